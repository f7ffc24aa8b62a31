"""Who sent a request: the client IP (X-Forwarded-For only from trusted proxies) and API key."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable, Mapping

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _is_trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_ip(peer: str | None, forwarded_for: str | None, trusted: tuple[Network, ...]) -> str:
    """The end user's address: walk X-Forwarded-For from the right past trusted proxies."""
    address = peer or ""
    if not forwarded_for or not _is_trusted(address, trusted):
        return address
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        address = hop
        if not _is_trusted(hop, trusted):
            break
    return address


def api_key(headers: Mapping[str, str]) -> str | None:
    """``X-API-Key``, else ``Authorization: Bearer <key>``."""
    key = headers.get("x-api-key")
    if key:
        return key.strip()
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def same_secret(given: str | None, expected: str) -> bool:
    """Whether ``given`` is ``expected``, in constant time. Header values may hold any
    character (Starlette reads their bytes as latin-1), which ``hmac.compare_digest`` refuses
    on text (``TypeError``): compare the UTF-8 bytes."""
    if not given or not expected:
        return False
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )
