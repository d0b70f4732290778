"""Who is asking: the client address a rate limit is counted against.

Gancio trusts `X-Forwarded-For` from anyone (gancio-api.md §3.8, "Rate limiting"), so a client that
sends a made-up address starts a fresh count each time. Piazza uses the direct peer address, and reads
`X-Forwarded-For` only when that peer is one of the configured trusted proxies.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from starlette.types import Scope

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# One person on IPv6 usually holds a whole /64; counting single addresses would let them rotate freely.
IPV6_PREFIX = 64


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """`10.0.0.1`, `10.0.0.0/8`, `::1`... as networks; raises ValueError naming a bad entry."""
    networks = []
    for value in values:
        value = value.strip()
        if not value:
            continue
        try:
            networks.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or network: {value!r}") from None
    return tuple(networks)


def _parse_address(value: str) -> IPAddress | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[::1]:443"
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # "1.2.3.4:5678"
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _is_trusted(address: IPAddress, trusted: Sequence[IPNetwork]) -> bool:
    return any(address in network for network in trusted)


def client_address(scope: Scope, trusted_proxies: Sequence[IPNetwork]) -> str:
    """The address to count against, as text; IPv6 addresses are widened to their /64."""
    peer = scope.get("client")
    address = _parse_address(peer[0]) if peer else None
    if address is None:
        return "unknown"
    if trusted_proxies and _is_trusted(address, trusted_proxies):
        forwarded = b",".join(value for name, value in scope["headers"] if name == b"x-forwarded-for")
        # Each proxy appends the address it received from, so read right to left and stop at the first
        # hop that is not one of ours: everything left of it was written by the client and is untrusted.
        for hop in reversed(forwarded.decode("latin-1").split(",")) if forwarded else ():
            hop_address = _parse_address(hop)
            if hop_address is None:
                break
            address = hop_address
            if not _is_trusted(hop_address, trusted_proxies):
                break
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/{IPV6_PREFIX}", strict=False))
    return str(address)
