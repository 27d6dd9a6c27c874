"""Typed settings shared by every service.

Each service subclasses `ServiceSettings` with its own env prefix; settings are read from the
environment once, in the service's entry point, and passed down through constructors.
Variables every service shares (REDIS_URL, REGISTRY_DIR, ...) keep one unprefixed name.
"""
from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.tls import check_pair


def _shared(name: str, default, **kw):
    """A field read from one unprefixed environment variable, whatever the service prefix."""
    return Field(default, validation_alias=AliasChoices(name, name.lower()), **kw)


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    host: str = "127.0.0.1"
    port: int = Field(0, ge=0, le=65535)
    # Seconds in-flight requests get to finish after SIGTERM.
    grace_s: float = Field(5.0, ge=0)
    # Concurrent RPCs this process serves before answering RESOURCE_EXHAUSTED.
    max_concurrent_rpcs: int = Field(256, ge=1)
    # Largest request or response message in bytes.
    max_message_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    # Prometheus /metrics port; 0 = not exposed.
    metrics_port: int = Field(0, ge=0, le=65535)
    # TLS: PEM certificate chain and private key; both empty = plaintext (inside a cluster
    # network, or behind a TLS-terminating proxy).
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # With TLS on: callers must show a certificate this CA signed (mutual TLS); unset = any
    # caller that trusts our certificate (services/common/tls.py).
    tls_client_ca_file: Path | None = None
    # gRPC server reflection (grpcurl and friends). Off on a public port in production: it
    # lists every method to anyone who asks.
    reflection: bool = True

    redis_url: str = _shared("REDIS_URL", "redis://127.0.0.1:6379/0")
    redis_prefix: str = _shared("REDIS_PREFIX", "recsys", min_length=1, max_length=64)
    registry_dir: Path = _shared("REGISTRY_DIR", Path("models"))
    # Where live/canary aliases are read from instead of <registry>/<name>/aliases.json
    # (a ConfigMap mounted as a folder in Kubernetes); unset = inside the registry.
    aliases_dir: Path | None = _shared("ALIASES_DIR", None)
    # How often a service looks at the alias files for new model versions (seconds).
    alias_poll_s: float = Field(1.0, gt=0)

    @model_validator(mode="after")
    def _tls_complete(self):
        check_pair(self.tls_cert_file, self.tls_key_file, "tls_cert_file / tls_key_file")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("tls_client_ca_file: client certificates need TLS on (tls_cert_file)")
        return self

    def registry(self):
        from core.registry.reader import Registry
        return Registry(self.registry_dir, self.aliases_dir)
    log_level: str = _shared("LOG_LEVEL", "INFO")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"
