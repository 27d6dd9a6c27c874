from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class RerankSettings(ServiceSettings):
    """Environment: RERANK_PORT, RERANK_POLICIES (JSON; see policies.py) (+ shared vars)."""

    model_config = SettingsConfigDict(env_prefix="RERANK_", extra="ignore")

    port: int = 50053
    policies: str = ""
