from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class RankSettings(ServiceSettings):
    """Environment: RANK_PORT, RANK_ONNX_THREADS, ... (+ shared REDIS_URL, REGISTRY_DIR)."""

    model_config = SettingsConfigDict(env_prefix="RANK_", extra="ignore")

    port: int = 50052
    # Threads for each ONNX session (intra-op).
    onnx_threads: int = Field(1, ge=1)
    # Most candidates one request may carry.
    max_candidates: int = Field(2000, ge=1)
