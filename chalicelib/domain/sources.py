"""Where a request came from, as the service counts it (the refusal tallies, the PSC start limit,
the journal's review, the breach scope): an IPv4 address, or an IPv6 address's /64 (one
subscriber's whole prefix: rotating addresses inside it gains nothing)."""

from __future__ import annotations

import ipaddress


def source_of(address: str) -> str:
    """The source `address` is counted against; anything that is no address, cut to 64 characters."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
