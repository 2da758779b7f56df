"""The one gate for untrusted text: request parameters and the claims of tokens we did not sign.

Every value that comes from outside (a query or form parameter, a claim of an ``id_token_hint`` or of
a logout token) passes through here before it reaches a query, a hash, a signature check or a
template. A value that is not a ``str`` of valid, NUL-free Unicode of sane length is refused as
malformed, so that no database driver (PostgreSQL refuses NUL; every driver refuses lone surrogates),
``str.encode()`` or regular expression ever sees it, and the caller answers 400.

This module imports only the standard library: the client-site kit (``django_idp_logout.rp``) and the
provider side both use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The default length limit of one value: generous for any identifier, URI or token we accept.
MAX_LENGTH = 4096
#: The length limit of identifiers that end up in indexed columns (sid, sub, jti, client_id).
MAX_ID_LENGTH = 255


class MalformedInput(ValueError):
    """The value cannot be used; ``str(exc)`` names it and says why, safe to show to the sender."""


def problem(value: object, *, max_length: int = MAX_LENGTH) -> str | None:
    """Why ``value`` is not usable text, or None when it is."""
    if not isinstance(value, str):
        return "is not a string"
    if len(value) > max_length:
        return f"is longer than {max_length} characters"
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: valid in a Python str, never in UTF-8
        return "is not valid Unicode"
    return None


def text(value: object, *, name: str, max_length: int = MAX_LENGTH, allow_empty: bool = True) -> str:
    """``value`` itself when it is usable text; else raise ``MalformedInput`` naming ``name``."""
    reason = problem(value, max_length=max_length)
    if reason is None and not allow_empty and value == "":
        reason = "is empty"
    if reason is not None:
        raise MalformedInput(f"{name} {reason}")
    return value  # type: ignore[return-value]  (problem() checked it is a str)


def identifier(value: object, *, name: str) -> str:
    """A non-empty identifier that fits an indexed column: ``sid``, ``sub``, ``jti``, ``client_id``."""
    return text(value, name=name, max_length=MAX_ID_LENGTH, allow_empty=False)


def single_parameter(params: Mapping[str, Any], name: str, *, max_length: int = MAX_LENGTH) -> str | None:
    """The one value of parameter ``name`` in a ``QueryDict`` (None when absent).

    Sent twice, a parameter is refused: two values are ambiguous, and different layers (a proxy, the
    OP, this app) could each pick another one.
    """
    values = params.getlist(name) if hasattr(params, "getlist") else [params[name]] if name in params else []
    if not values:
        return None
    if len(values) > 1:
        raise MalformedInput(f"{name} is sent more than once")
    return text(values[0], name=name, max_length=max_length)
