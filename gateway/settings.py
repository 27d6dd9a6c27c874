from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings
from services.common.tls import channel_credentials, check_pair


class GatewaySettings(ServiceSettings):
    """Environment: GATEWAY_PORT, GATEWAY_RECALL_ADDR, ... (+ shared REDIS_URL, REGISTRY_DIR)."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    port: int = 50050
    # Requests in flight before RESOURCE_EXHAUSTED. Kept near capacity x a good latency: a
    # 2-core replica serves ~160 rps at ~100 ms with 16 in flight; with the shared default of
    # 256, 5x overload queued requests for 1.6 s and clients saw DEADLINE_EXCEEDED instead of
    # a fast, retryable RESOURCE_EXHAUSTED (bench/chaos.py, scenario overload).
    max_concurrent_rpcs: int = Field(32, ge=1)
    # Downstream addresses; "dns:///name:port" resolves every replica for client-side round-robin.
    recall_addr: str = "127.0.0.1:50051"
    rank_addr: str = "127.0.0.1:50052"
    rerank_addr: str = "127.0.0.1:50053"
    # TLS to the stages (services/common/tls.py): the CA that signed their certificates (PEM);
    # unset = plaintext (inside a cluster network). With a client certificate and key as well,
    # the gateway proves itself to stages that require it (mutual TLS: *_TLS_CLIENT_CA_FILE).
    stage_tls_ca_file: Path | None = None
    stage_tls_cert_file: Path | None = None
    stage_tls_key_file: Path | None = None
    # Whole-request budget when the client sets no deadline, and each stage's share (ms).
    total_budget_ms: float = Field(400.0, gt=0)
    state_budget_ms: float = Field(50.0, gt=0)
    recall_budget_ms: float = Field(150.0, gt=0)
    rank_budget_ms: float = Field(120.0, gt=0)
    rerank_budget_ms: float = Field(60.0, gt=0)
    # Display info of the served page and the campaigns' impression counts (one round trip).
    display_budget_ms: float = Field(30.0, gt=0)
    # Seconds the gateway keeps an item's display info in process (core/store/item_meta.py
    # ItemMetaCache): an edit reaches pages within this; 0 = read Redis for every page.
    item_meta_ttl_s: float = Field(30.0, ge=0)
    # Funnel sizes: recall -> rank keeps rank_top_k -> rerank keeps the requested count.
    recall_limit: int = Field(1000, ge=1, le=5000)
    rank_top_k: int = Field(50, ge=1, le=2000)
    # "" lets the rerank service choose (by the request's experiment, else its default).
    rerank_policy: str = ""
    max_count: int = Field(100, ge=1, le=100)
    max_events_per_batch: int = Field(500, ge=1)
    # Authentication (gateway/auth.py). "on": every method but health and reflection needs a
    # key, and the gateway refuses to start without API keys; "off": an open local demo only.
    auth: Literal["on", "off"] = "on"
    # Comma-separated keys, never logged: clients send one of api_keys as x-api-key; catalog
    # writes need one of admin_keys (distinct from the public ones) as x-admin-key.
    api_keys: str = Field("", repr=False)
    admin_keys: str = Field("", repr=False)
    # Signed user tokens (gateway/identity.py): when set (>= 32 bytes, from a Secret), calls
    # carry `x-user-token`, a JWT (HS256) for the user they name; empty = API keys only.
    user_token_secret: str = Field("", repr=False)
    # Token buckets per gateway replica (gateway/limits.py; rate 0 = off): calls per second
    # and burst per API key, per user id, and for catalog publishes (each rebuilds the live
    # catalog's arrays on every recall replica). A person scrolls a few feeds a second at most.
    key_rps: float = Field(1000.0, ge=0)
    key_burst: float = Field(2000.0, ge=0)
    user_rps: float = Field(10.0, ge=0)
    user_burst: float = Field(30.0, ge=0)
    publish_rps: float = Field(20.0, ge=0)
    publish_burst: float = Field(100.0, ge=0)
    # How far a publish_ms may lie from the catalog clock (client clocks drift; a video dated
    # in the future would hold the fresh channel's top weight until then).
    publish_skew_ms: int = Field(5 * 60 * 1000, ge=0)
    # Log every served feed to the impression stream (the training data and the A/B record).
    log_impressions: bool = True
    # HTTP/JSON API and web console on the same process and loop; 0 = a free port.
    http_port: int = Field(8080, ge=0, le=65535)
    # Plots the console links to (read-only): PNG files directly in these folders.
    reports_dirs: str = "reports,bench/results"
    # How often the gateway re-reads the operations campaigns (seconds).
    campaign_refresh_s: float = Field(0.25, gt=0)
    # Layered experiment configuration (JSON, see experiments.py); re-read when it changes.
    experiments_file: Path | None = None
    # An imported dataset's id map (core/ids.py, `ids.npz` beside it): the API then takes and
    # answers the dataset's own ids in `external_user_id` / `external_item_id`.
    id_map: Path | None = None

    @model_validator(mode="after")
    def _stage_tls_complete(self):
        check_pair(self.stage_tls_cert_file, self.stage_tls_key_file,
                   "stage_tls_cert_file / stage_tls_key_file")
        if self.stage_tls_cert_file is not None and self.stage_tls_ca_file is None:
            raise ValueError("stage_tls_ca_file: a client certificate needs the stages' CA")
        return self

    def stage_credentials(self):
        """How the gateway dials the stages: TLS credentials, or None for plaintext."""
        return channel_credentials(self.stage_tls_ca_file, self.stage_tls_cert_file,
                                   self.stage_tls_key_file)

    def key_list(self, field: str) -> list[str]:
        return [k.strip() for k in getattr(self, field).split(",") if k.strip()]
