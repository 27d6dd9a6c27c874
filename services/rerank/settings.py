from __future__ import annotations

import json

from pydantic import field_validator
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class RerankSettings(ServiceSettings):
    """Environment: RERANK_PORT, RERANK_POLICIES (JSON; see policies.py),
    RERANK_EXPERIMENT_POLICIES (JSON experiment id -> policy name) (+ shared vars)."""

    model_config = SettingsConfigDict(env_prefix="RERANK_", extra="ignore")

    port: int = 50053
    policies: str = ""
    experiment_policies: str = "{}"

    @field_validator("experiment_policies")
    @classmethod
    def _mapping(cls, v: str) -> str:
        doc = json.loads(v)
        if not isinstance(doc, dict) or not all(isinstance(x, str) for x in doc.values()):
            raise ValueError("must be a JSON object of experiment id -> policy name")
        return v
