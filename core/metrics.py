"""The metrics every service exports (Prometheus). One module, so names stay consistent."""
from __future__ import annotations

from prometheus_client import Counter, Histogram, start_http_server

_MS_BUCKETS = (0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 200, 500, 1000, 5000)

RPC_TOTAL = Counter("recsys_rpc_total", "RPCs served, by final status code.",
                    ["service", "method", "code"])
RPC_LATENCY_MS = Histogram("recsys_rpc_latency_ms", "Server-side RPC latency in milliseconds.",
                           ["service", "method"], buckets=_MS_BUCKETS)
STAGE_LATENCY_MS = Histogram("recsys_stage_latency_ms", "Latency of a pipeline stage (ms).",
                             ["stage"], buckets=_MS_BUCKETS)
CHANNEL_LATENCY_MS = Histogram("recsys_recall_channel_latency_ms",
                               "Latency of one recall channel (ms).", ["channel"],
                               buckets=_MS_BUCKETS)
CHANNEL_FAILURES = Counter("recsys_recall_channel_failures_total",
                           "Recall channels skipped, by reason.", ["channel", "reason"])
RECALL_FALLBACKS = Counter("recsys_recall_fallbacks_total",
                           "Recall requests answered by the fallback list (every channel failed or was empty).")
CATALOG_CHANGES = Counter("recsys_catalog_changes_total",
                          "Catalog changes applied from the change log, by operation.", ["op"])
CATALOG_REBUILDS = Counter("recsys_catalog_rebuilds_total",
                           "Rebuilds of the recall service's live catalog arrays (one per new model "
                           "version or applied batch of publishes).")
CHANNEL_CANDIDATES = Counter("recsys_recall_channel_candidates_total",
                             "Candidates returned by a recall channel.", ["channel"])
DEGRADED = Counter("recsys_degraded_total", "Responses served degraded, by what degraded.",
                   ["what"])
SHED = Counter("recsys_shed_total", "RPCs refused with RESOURCE_EXHAUSTED (overload).",
               ["service", "method"])
RECOMMENDS = Counter("recsys_recommend_total", "Recommend calls served, by experiment.",
                     ["experiment"])
EVENTS = Counter("recsys_events_total", "Reported events, by outcome.", ["outcome"])
IMPRESSIONS = Counter("recsys_impressions_total",
                      "Served feeds logged to the impression stream, by outcome (written, failed, dropped).",
                      ["outcome"])
FEATURE_DEFAULTS = Counter("recsys_rank_feature_defaults_total",
                           "Feature values the rank service filled with defaults, by feature "
                           "(item: every feature of an unknown item; hour/device/user_region: "
                           "missing request context).", ["feature"])
ITEM_META_MISSING = Counter("recsys_item_meta_missing_total",
                           "Served items without display info (none stored, or the store unreachable).")
MISSING_FEATURES = Counter("recsys_rank_unknown_items_total",
                           "Candidates the ranker scored with default item features.")
AUTH_REJECTED = Counter("recsys_auth_rejected_total", "Gateway calls refused for credentials, by code.",
                        ["method", "code"])
RATE_LIMITED = Counter("recsys_rate_limited_total", "Gateway calls refused by a rate limit, by limit.",
                       ["limit"])
REDIS_CONFIG_WARNINGS = Counter("recsys_redis_config_warnings_total",
                                "Redis settings found at start-up that break the durability promise, by setting.",
                                ["setting"])


def serve_metrics(port: int) -> None:
    """Expose /metrics on `port` (0 = don't)."""
    if port:
        start_http_server(port)
