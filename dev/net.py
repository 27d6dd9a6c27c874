"""Address helpers shared by the load tools (bench, simulator)."""
from __future__ import annotations

import ipaddress


def check_loopback(address: str) -> str:
    """`address` unchanged when its host is a loopback address; ValueError otherwise (the load
    tools never target anything but this machine)."""
    host = address.rsplit(":", 1)[0].strip("[]")
    try:
        ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{address}: loopback addresses only (127.0.0.1, ::1, localhost)")
    return address
