"""Small measuring helpers the benchmarks share: percentiles and a process's CPU and memory."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def pct(samples, q: float) -> float:
    """The q-th percentile, rounded to µs when in ms; NaN for no samples."""
    return round(float(np.percentile(samples, q)), 3) if len(samples) else float("nan")


def rss_mb(pid: int) -> float:
    """Resident memory of a process (Linux /proc), MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ctx_switches(pid: int) -> int:
    """Voluntary + involuntary context switches of all the process's threads (Linux /proc)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            if "ctxt_switches" in line:
                total += int(line.split()[-1])
    return total


# The serving method each service's interceptor times (recsys_rpc_latency_ms{service, method}).
SERVING_METHODS = {"recall": "Retrieve", "rank": "Rank", "rerank": "Rerank", "gateway": "Recommend"}


def server_side_ms(metrics_port: int, service: str) -> tuple[float, float]:
    """(sum of ms, count) of a service's serving method so far, from its own /metrics: the
    time from the request's bytes to the answer, without the hop (services/common/server.py)."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    total = count = 0.0
    for family in text_string_to_metric_families(text):
        if family.name != "recsys_rpc_latency_ms":
            continue
        for s in family.samples:
            if s.labels.get("method") != SERVING_METHODS[service] or s.labels.get("service") != service:
                continue
            if s.name.endswith("_sum"):
                total = s.value
            elif s.name.endswith("_count"):
                count = s.value
    return total, count


def mean_ms(before: tuple[float, float], after: tuple[float, float]) -> float:
    """The mean of what a histogram observed between two `server_side_ms` readings."""
    return round((after[0] - before[0]) / max(after[1] - before[1], 1), 3)
