"""analytics.js' settings document: where it tells the library to send."""

from __future__ import annotations

from starlette.requests import Request

from pipeline.edge.client import parse_networks
from pipeline.edge.dialects import segment

TRUSTED = parse_networks(["10.0.0.0/8"])


def request(peer: str, headers: dict[str, str], scheme: str = "http") -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "scheme": scheme,
            "path": "/v1/projects/k/settings",
            "query_string": b"",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "client": (peer, 50000),
            "server": ("edge.internal", 8000),
        }
    )


def test_the_document_sends_to_the_host_it_was_fetched_from():
    document = segment.cdn_settings("thw_k", "edge.example:8080/v1", "http")
    assert document["integrations"] == {
        "Segment.io": {
            "apiKey": "thw_k",
            "apiHost": "edge.example:8080/v1",
            "protocol": "http",
            "unbundledIntegrations": [],
            "addBundledMetadata": True,
            "maybeBundledConfigIds": {},
        }
    }
    assert document["metrics"] == {"sampleRate": 0} and document["remotePlugins"] == []
    direct = request("203.0.113.9", {"Host": "edge.example:8080"})
    assert segment.public_origin(direct, TRUSTED) == ("http", "edge.example:8080")


def test_forwarded_scheme_and_host_only_from_a_trusted_proxy():
    forwarded = {"Host": "edge.internal:8000", "X-Forwarded-Proto": "https",
                 "X-Forwarded-Host": "t.example.com, proxy.internal"}  # fmt: skip
    assert segment.public_origin(request("10.1.2.3", forwarded), TRUSTED) == (
        "https",
        "t.example.com",
    )
    assert segment.public_origin(request("203.0.113.9", forwarded), TRUSTED) == (
        "http",
        "edge.internal:8000",
    )
    odd = {"Host": "edge.internal:8000", "X-Forwarded-Proto": "javascript"}
    internal = ("http", "edge.internal:8000")
    assert segment.public_origin(request("10.1.2.3", odd), TRUSTED) == internal
