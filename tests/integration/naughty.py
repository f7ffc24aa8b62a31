"""Strings that break naive code: a corpus for the ingest property test (written for it)."""

from __future__ import annotations

NAUGHTY: tuple[str, ...] = (
    # empty, blank and invisible
    "",
    " ",
    "\t\n\r",
    "\u00a0",  # no-break space
    "\u200b",  # zero width space
    "\ufeff",  # byte order mark
    "\u2028",  # line separator: breaks JavaScript string literals
    "\u2029",  # paragraph separator
    "a\u2028b\u2029c",
    "\x00",
    "nul\x00inside",
    "\x1b[31mred\x1b[0m",  # ANSI escape
    "\x7f\x85",
    # right-to-left and bidi overrides
    "مرحبا بالعالم",
    "שלום עולם",
    "\u202eevil\u202c",  # right-to-left override
    "abc\u202edcba\u202c123",
    "\u200f\u200e",
    # zalgo and combining marks
    "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇",
    "e\u0301\u0301\u0301\u0301\u0301",
    "\u0300",  # a combining mark with nothing to combine with
    # emoji sequences
    "👨‍👩‍👧‍👦",  # ZWJ family
    "🏳️‍🌈",
    "🇫🇷🇯🇵",  # flags: regional indicator pairs
    "👍🏽",  # skin tone modifier
    "1️⃣",  # keycap
    "🧑🏿‍🚀",
    "\U0001f600" * 20,
    # other planes, scripts and normalisation traps
    "𝕳𝖊𝖑𝖑𝖔",
    "𠜎𠜱𠝹𠱓",
    "Ω≈ç√∫",
    "ﬁ",  # ligature: NFKC makes it "fi"
    "Å",  # U+212B angstrom sign, NFC makes it U+00C5
    "ß",
    "İstanbul",
    "\U0010ffff",
    "\ufffd",
    "\ufffe",
    "田中さんにあげて下さい",
    "사회과학원 어학연구소",
    # format strings and templates
    "%s%s%s%n",
    "%d %x %p",
    "{0}{1}",
    "{}",
    "{{7*7}}",
    "${7*7}",
    "#{7*7}",
    "<%= 7*7 %>",
    "$HOME",
    "`whoami`",
    # markup
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "]]><![CDATA[x]]>",
    "&amp;&lt;&#0;",
    '"><svg/onload=alert(1)>',
    "<!-- -->",
    # SQL and query fragments
    "'; DROP TABLE events; --",
    "' OR '1'='1",
    '" OR "1"="1',
    "1; SELECT sleep(10)",
    "\\'",
    "{p:String}",
    "?",
    "%",
    "_",
    "\\",
    "\\\\",
    '"',
    "\\u0000",
    # numbers and words that are not what they seem
    "NaN",
    "Infinity",
    "-0",
    "1e309",
    "0x1F",
    "9223372036854775808",
    "null",
    "undefined",
    "true",
    "None",
    "[object Object]",
    "__proto__",
    "constructor",
    # paths, urls and separators
    "../../etc/passwd",
    "C:\\Windows\\System32",
    "a.b.c",
    "a/b",
    "a=b&c=d",
    "javascript:alert(1)",
    "x" * 200,
)
