"""Which statements live SQL runs: one read (SELECT, SHOW, DESCRIBE, EXPLAIN, EXISTS), without
settings changes and without table functions that reach files, the network or programs.

Checked on sqlglot's ClickHouse tokens and syntax tree; the engine runs the query with
``readonly = 1`` as well (``pipeline.sink.raw_sql``), so a statement this check misreads is still
refused there. A refusal is a ClickHouse-style error (code and name) the HTTP layer sends as is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType

# (sqlglot warns on every statement it parses as a bare command: SHOW, EXPLAIN...)
logging.getLogger("sqlglot").setLevel(logging.ERROR)
DIALECT = "clickhouse"
READ_KEYWORDS = frozenset({"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "EXISTS", "("})
# Table functions (and the scalar ``file``) that read or write outside the database.
OUTSIDE_FUNCTIONS = frozenset(
    {
        "file",
        "filecluster",
        "url",
        "urlcluster",
        "s3",
        "s3cluster",
        "gcs",
        "oss",
        "cosn",
        "hdfs",
        "hdfscluster",
        "remote",
        "remotesecure",
        "cluster",
        "clusterallreplicas",
        "mysql",
        "postgresql",
        "sqlite",
        "mongodb",
        "redis",
        "jdbc",
        "odbc",
        "input",
        "executable",
        "executablepool",
        "azureblobstorage",
        "azureblobstoragecluster",
        "deltalake",
        "deltalakecluster",
        "hudi",
        "hudicluster",
        "iceberg",
        "icebergs3",
        "icebergazure",
        "icebergcluster",
        "ytsaurus",
        "arrowflight",
        "python",
        "dictionary",
    }
)


@dataclass(frozen=True)
class Refusal(Exception):
    """A statement live SQL does not run: a ClickHouse error code, its name and a message."""

    code: int
    name: str
    message: str

    def __str__(self) -> str:
        return f"Code: {self.code}. DB::Exception: {self.message}. ({self.name})"


def readonly(message: str) -> Refusal:
    return Refusal(164, "READONLY", f"{message}: live SQL is read-only")


def check(sql: str) -> str | None:
    """Refuse (``Refusal``) unless ``sql`` is one allowed read; returns the format its FORMAT
    clause names, or None."""
    try:
        tokens = sqlglot.tokenize(sql, read=DIALECT)
    except (TokenError, ValueError, RecursionError) as exc:
        raise Refusal(62, "SYNTAX_ERROR", f"Syntax error: {exc}") from None
    while tokens and tokens[-1].token_type == TokenType.SEMICOLON:
        tokens.pop()
    if not tokens:
        raise Refusal(62, "SYNTAX_ERROR", "Empty query")
    if any(token.token_type == TokenType.SEMICOLON for token in tokens):
        raise Refusal(62, "SYNTAX_ERROR", "Multi-statements are not allowed")
    first = tokens[0].text.upper()
    if first not in READ_KEYWORDS:
        raise readonly(f"Cannot execute {first} query")
    _check_tokens(tokens)
    _check_tree(sql)
    return _format_of(tokens)


def _check_tokens(tokens: list[Token]) -> None:
    shows = tokens[0].text.upper() == "SHOW"  # SHOW [CHANGED] SETTINGS lists them
    for index, token in enumerate(tokens):
        word = token.text.upper()
        after_dot = index > 0 and tokens[index - 1].token_type == TokenType.DOT
        if token.token_type in (TokenType.STRING, TokenType.IDENTIFIER) or after_dot:
            continue  # a literal, a quoted name, or a column/table like system.settings
        if word == "SETTINGS" and not shows:
            raise readonly("Cannot modify settings (a SETTINGS clause)")
        if word == "INTO":
            raise readonly("Cannot write a result (INTO OUTFILE)")
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        calls = following is not None and following.token_type == TokenType.L_PAREN
        if calls and token.text.lower() in OUTSIDE_FUNCTIONS:
            raise Refusal(
                497,
                "ACCESS_DENIED",
                f"Not enough privileges: the table function {token.text}() reaches outside "
                "the database and live SQL does not run it",
            )


def _check_tree(sql: str) -> None:
    """What the tokens cannot tell: a statement that parses as a write (sqlglot falls back to
    a bare command for syntax it does not know; the engine's readonly refuses those)."""
    try:
        statements = sqlglot.parse(sql, read=DIALECT)
    except (ParseError, TokenError, ValueError, RecursionError):
        return  # ClickHouse syntax sqlglot lacks: the engine (readonly = 1) decides
    for statement in statements:
        if statement is None:
            continue
        writes = (exp.Insert, exp.Update, exp.Delete, exp.Create, exp.Drop, exp.Alter, exp.Set)
        found = statement.find(*writes)
        if found is not None:
            raise readonly(f"Cannot execute {found.key.upper()}")
        if isinstance(statement, exp.Select) and statement.args.get("settings"):
            raise readonly("Cannot modify settings (a SETTINGS clause)")


def _format_of(tokens: list[Token]) -> str | None:
    if len(tokens) >= 2 and tokens[-2].text.upper() == "FORMAT":
        return tokens[-1].text
    return None
