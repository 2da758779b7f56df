"""Hostile input: text no well-behaved client sends, and tokens shaped to reach every branch.

Every generator mixes the classes that have broken endpoints before: NUL, lone surrogates, bytes that
are not UTF-8, control and bidi characters, markup that would show up unescaped, URLs of a foreign
host, huge values, JSON of the wrong type or nested deep, and JSON-serialized JWS.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_from_bytes

from hypothesis import strategies as st

#: A tag no page of ours contains: if it shows up unescaped in HTML, a reflected value was not escaped.
MARKUP_MARKER = "<x-fuzz"
#: A host no client registers: if it shows up in a redirect, the redirect was not checked.
EVIL_HOST = "evil.example"

NASTY = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "\udfff",
    "x\ud83dy",
    "\ufffe",
    "\u202e",
    "\r\n",
    "\t",
    "%00",
    "%",
    "../",
    "\\",
    "'",
    '"',
    f'"><{MARKUP_MARKER[1:]} a=1>',
    f"{MARKUP_MARKER}>",
    "javascript:alert(1)",
    f"https://{EVIL_HOST}/",
    f"//{EVIL_HOST}",
    f"https://rp.example.com.{EVIL_HOST}/signed-out",
    "https://rp.example.com/signed-out#x",
    "null",
    "[]",
    "{}",
    "0",
    "-1",
    "1e309",
    "NaN",
    "eyJ",
    "a.b.c",
    "..",
]

# Every code point, surrogates (Cs) included: Python strings can hold them, UTF-8 cannot.
any_character = st.characters(codec=None, exclude_categories=())
small_text = st.text(any_character, max_size=24)
huge_text = st.integers(min_value=300, max_value=40_000).map(lambda n: "A" * n)
deep_json = st.integers(min_value=500, max_value=50_000).map(lambda n: "[" * n + "]" * n)


def hostile_text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(NASTY),
        small_text,
        st.lists(st.one_of(st.sampled_from(NASTY), small_text), min_size=1, max_size=4).map("".join),
        huge_text,
    )


def json_values() -> st.SearchStrategy:
    """Any JSON value, with hostile strings and non-finite numbers, nested a little."""
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        hostile_text(),
    )
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(small_text, inner, max_size=3),
        max_leaves=8,
    )


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def to_json(value) -> bytes:
    # ensure_ascii escapes lone surrogates as \ud800, which json.loads turns back into them.
    return json.dumps(value).encode()


def claims(names: list[str]) -> st.SearchStrategy[dict]:
    """JWT claim sets (or headers) over ``names``, each claim hostile text, of any other type, or missing."""
    return st.dictionaries(
        st.sampled_from(names) | small_text, st.one_of(hostile_text(), json_values()), max_size=len(names) + 1
    )


def tokens(*, header_names: list[str], claim_names: list[str]) -> st.SearchStrategy[str]:
    """Strings that look like JWTs to varying degrees: compact JWS with odd headers and claims (and no
    valid signature), JSON-serialized JWS with odd member types, deep JSON, and plain garbage."""
    compact = st.builds(
        lambda header, payload, signature: (
            f"{b64url(to_json(header))}.{b64url(to_json(payload))}.{signature}"
        ),
        st.one_of(claims(header_names), json_values()),
        st.one_of(claims(claim_names), json_values()),
        st.sampled_from(["", "c2ln", "AAAA", "!!"]),
    )
    json_serialized = st.builds(
        lambda members: json.dumps(members),
        st.fixed_dictionaries(
            {},
            optional={
                "payload": st.one_of(st.just("e30"), json_values()),
                "signature": st.one_of(st.just(""), json_values()),
                "header": json_values(),
                "protected": st.one_of(st.just(b64url(b'{"alg":"RS256"}')), json_values()),
                "signatures": json_values(),
            },
        ),
    )
    return st.one_of(compact, json_serialized, deep_json, hostile_text())


def query_value() -> st.SearchStrategy[str]:
    """One percent-encoded query or form value: hostile text (surrogates sent as their UTF-8-like
    bytes) or arbitrary bytes that are not UTF-8."""
    as_text = hostile_text().map(lambda v: quote(v.encode("utf-8", "surrogatepass"), safe=""))
    as_bytes = st.binary(max_size=32).map(lambda b: quote_from_bytes(b, safe=""))
    return st.one_of(as_text, as_bytes)


def query_string(names: list[str], *, values: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[str]:
    """``a=1&b=2`` over ``names`` (and random names), parameters repeated now and then."""
    values = values if values is not None else query_value()
    name = st.one_of(
        st.sampled_from(names), small_text.map(lambda v: quote(v.encode("utf-8", "surrogatepass")))
    )
    pair = st.tuples(name, values).map(lambda p: f"{p[0]}={p[1]}")
    return st.lists(pair, max_size=len(names) + 2).map("&".join)


def encoded(value: str) -> str:
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


#: POST bodies under content types a form endpoint may not expect.
odd_bodies = st.one_of(
    st.tuples(st.just("application/json"), json_values().map(to_json)),
    st.tuples(st.just("multipart/form-data; boundary=x"), st.binary(max_size=64)),
    st.tuples(st.just("multipart/form-data"), st.binary(max_size=64)),
    st.tuples(st.just("text/plain"), st.binary(max_size=64)),
    st.tuples(st.just("application/x-www-form-urlencoded; charset=utf-16"), st.binary(max_size=64)),
    st.tuples(st.just(""), st.binary(max_size=64)),
)


#: What a back-channel receiver may be sent instead of one form-encoded ``logout_token``.
backchannel_bodies = st.one_of(
    odd_bodies, query_string(["logout_token"]).map(lambda q: ("application/x-www-form-urlencoded", q))
)


def frontchannel_queries(issuer: str) -> st.SearchStrategy[str]:
    """Front-channel logout queries: any parameters, or the right ``iss`` (often) with a hostile ``sid``."""
    iss = st.one_of(st.just(encoded(issuer)), query_value())
    return st.one_of(
        query_string(["iss", "sid"]),
        st.tuples(iss, query_value()).map(lambda p: f"iss={p[0]}&sid={p[1]}"),
    )
