from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class RankSettings(ServiceSettings):
    """Environment: RANK_PORT, RANK_ONNX_THREADS, RANK_PRERANK_KEEP, ... (+ shared vars)."""

    model_config = SettingsConfigDict(env_prefix="RANK_", extra="ignore")

    port: int = 50052
    # Threads for each ONNX session (intra-op).
    onnx_threads: int = Field(1, ge=1)
    # Most candidates one request may carry.
    max_candidates: int = Field(2000, ge=1)
    # Candidates the pre-rank stage passes to the ranker; pre-rank runs only above this.
    prerank_keep: int = Field(200, ge=1)
    # The model admin API (promote, roll back, canary) on its own port, never the serving one:
    # bound to loopback by default (reachable inside the pod: kubectl exec / port-forward),
    # callers send `authorization: Bearer <admin_token>`. No token = the admin API is off.
    admin_host: str = "127.0.0.1"
    admin_port: int = Field(50062, ge=1, le=65535)
    admin_token: str = Field("", repr=False)
    # Run the pre-rank stage when a pre-rank model is in the registry.
    prerank: bool = True
    # Follow the catalog log and assemble videos published online with their real item
    # features (core/rank/online_items.py); false = they rank as unknown items.
    online_items: bool = True
    # Seconds between looks at the alias files (a changed file rolls the version).
