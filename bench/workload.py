"""A realistic event mix for benchmarks: ~200 real-world user agents, public IPs from many
countries, page URLs with UTM tags and referrers, visitors that come back."""

from __future__ import annotations

import random
import uuid
from typing import Any

_CHROME = "Mozilla/5.0 ({os}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36"
_DESKTOP_OS = [
    "Windows NT 10.0; Win64; x64",
    "Macintosh; Intel Mac OS X 10_15_7",
    "X11; Linux x86_64",
    "X11; CrOS x86_64 14541.0.0",
]
_ANDROID = [
    ("SM-S918B", 14),
    ("SM-A546B", 14),
    ("Pixel 8", 14),
    ("Pixel 7a", 14),
    ("Redmi Note 12", 13),
    ("moto g54 5G", 13),
    ("SM-X710", 13),
    ("CPH2581", 14),
    ("2201116SG", 12),
    ("M2101K6G", 13),
]
_BOTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; "
    "+https://openai.com/gptbot)",
    "Twitterbot/1.0",
]


def user_agents() -> list[str]:
    """About 200 user agents in the formats real browsers, phones and crawlers send."""
    agents: list[str] = []
    for os_token in _DESKTOP_OS:
        for version in range(110, 131, 2):
            agents.append(_CHROME.format(os=os_token, v=version))
            agents.append(
                f"Mozilla/5.0 ({os_token}; rv:{version - 5}.0) Gecko/20100101 "
                f"Firefox/{version - 5}.0"
            )
    for version in range(110, 131, 4):
        agents.append(
            _CHROME.format(os="Windows NT 10.0; Win64; x64", v=version) + f" Edg/{version}.0.0.0"
        )
    for major in (15, 16, 17, 18):
        for minor in range(0, 6):
            ios = f"{major}_{minor}"
            agents.append(
                f"Mozilla/5.0 (iPhone; CPU iPhone OS {ios} like Mac OS X) AppleWebKit/"
                f"605.1.15 (KHTML, like Gecko) Version/{major}.{minor} Mobile/15E148 "
                "Safari/604.1"
            )
            agents.append(
                f"Mozilla/5.0 (iPad; CPU OS {ios} like Mac OS X) AppleWebKit/605.1.15 "
                f"(KHTML, like Gecko) Version/{major}.{minor} Mobile/15E148 "
                "Safari/604.1"
            )
        agents.append(
            f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
            f"(KHTML, like Gecko) Version/{major}.0 Safari/605.1.15"
        )
    for model, android in _ANDROID:
        for version in (118, 122, 126, 129):
            agents.append(
                f"Mozilla/5.0 (Linux; Android {android}; {model}) AppleWebKit/537.36 "
                f"(KHTML, like Gecko) Chrome/{version}.0.0.0 Mobile Safari/537.36"
            )
    agents.extend(_BOTS)
    return agents


_PATHS = [
    "/",
    "/pricing",
    "/docs",
    "/docs/install",
    "/blog/launch",
    "/signup",
    "/login",
    "/features",
    "/about",
    "/changelog",
]
_REFERRERS = [
    "",
    "",
    "https://www.google.com/",
    "https://news.ycombinator.com/",
    "https://twitter.com/",
    "https://www.bing.com/search?q=x",
    "https://github.com/",
]
_UTM = [
    "",
    "",
    "",
    "?utm_source=newsletter&utm_medium=email&utm_campaign=launch",
    "?utm_source=google&utm_medium=cpc&utm_campaign=brand&utm_term=analytics",
]


def public_ip(rng: random.Random) -> str:
    """A random address in ranges that are allocated (and mostly resolvable) worldwide."""
    first = rng.choice(
        [
            2,
            5,
            8,
            24,
            31,
            37,
            46,
            62,
            77,
            81,
            82,
            85,
            88,
            91,
            93,
            95,
            101,
            103,
            109,
            121,
            151,
            176,
            177,
            178,
            185,
            186,
            187,
            188,
            189,
            190,
            200,
            201,
        ]
    )
    return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


class Workload:
    """Endless realistic events; visitors keep their UA and IP."""

    def __init__(self, seed: int = 7, visitors: int = 20_000) -> None:
        self.rng = random.Random(seed)
        agents = user_agents()
        self.visitors = [
            (
                f"vis_{uuid.UUID(int=self.rng.getrandbits(128)).hex}",
                self.rng.choice(agents),
                public_ip(self.rng),
            )
            for _ in range(visitors)
        ]

    def event(self, now_ms: int) -> dict[str, Any]:
        visitor, agent, ip = self.rng.choice(self.visitors)
        kind = self.rng.random()
        page = {
            "url": "https://shop.example" + self.rng.choice(_PATHS) + self.rng.choice(_UTM),
            "referrer": self.rng.choice(_REFERRERS),
            "title": "Shop",
        }
        event: dict[str, Any] = {
            "visitor_id": visitor,
            "timestamp": now_ms,
            "message_id": uuid.uuid4().hex,
            "context": {
                "user_agent": agent,
                "ip": ip,
                "page": page,
                "locale": "en-GB",
                "screen": {"width": 1920, "height": 1080},
            },
        }
        if kind < 0.6:
            event["type"] = "page"
        elif kind < 0.98:
            event.update(
                event="clicked",
                channel="ui",
                properties={"button": "buy", "price": 9.99, "test": False},
            )
        else:
            event.update(type="identify", user_id=f"user_{visitor[-8:]}", traits={"plan": "pro"})
        return event

    def batch(self, size: int, now_ms: int) -> list[dict[str, Any]]:
        return [self.event(now_ms) for _ in range(size)]
