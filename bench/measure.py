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
