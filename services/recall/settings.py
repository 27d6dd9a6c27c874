from __future__ import annotations

import json

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class RecallSettings(ServiceSettings):
    """Environment: RECALL_PORT, RECALL_CHANNELS, RECALL_QUOTAS, ... (+ shared REDIS_URL ...)."""

    model_config = SettingsConfigDict(env_prefix="RECALL_", extra="ignore")

    port: int = 50051
    # Channels to run, by registered name, comma-separated.
    channels: str = "hot,two_tower,item_cf,mf,follow,fresh,region"
    # Default quota per channel, JSON object.
    quotas: str = '{"hot": 200, "two_tower": 500, "item_cf": 300, "mf": 300, "follow": 100, "fresh": 50, "region": 200}'
    # Per-channel weight in the reciprocal-rank fusion, JSON object; missing channels use
    # core.recall.merge.DEFAULT_WEIGHTS, then 1.0.
    weights: str = "{}"
    # Per-channel timeout in milliseconds, JSON object; missing channels use timeout_ms.
    timeouts_ms: str = "{}"
    timeout_ms: float = Field(80.0, gt=0)
    # Merged candidates returned when the request does not say.
    limit: int = Field(1000, ge=1, le=5000)
    # Threads for the user tower's ONNX session.
    onnx_threads: int = Field(1, ge=1)
    # OpenMP threads faiss may use per search (1: a search is small; more threads only spin
    # against each other and the event loop, which showed as 15 ms p99 spikes on one core).
    ann_threads: int = Field(1, ge=1)
    # faiss search parameters for the two-tower index ("nprobe=64"); "" = the version's manifest.
    ann_params: str = ""
    # Most popular videos kept as the answer when every channel fails.
    fallback_size: int = Field(1000, ge=0, le=5000)
    # Seconds between looks at the alias files (a changed live version loads without restart).

    @field_validator("quotas", "timeouts_ms", "weights")
    @classmethod
    def _json_object(cls, v: str) -> str:
        doc = json.loads(v)
        if not isinstance(doc, dict) or not all(isinstance(x, (int, float)) for x in doc.values()):
            raise ValueError("must be a JSON object of numbers")
        return v

    @field_validator("channels")
    @classmethod
    def _known_channels(cls, v: str) -> str:
        from core.recall.build import check_names  # the registry imports the channels
        check_names([c.strip() for c in v.split(",") if c.strip()])
        return v

    def channel_names(self) -> list[str]:
        return [c.strip() for c in self.channels.split(",") if c.strip()]
