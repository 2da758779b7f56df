"""The authorize endpoint's parameters through the one gate for untrusted text (``untrusted.py``).

DOT and oauthlib store what a client sends at the authorize endpoint (``nonce``, ``code_challenge``,
``claims``, ``redirect_uri``, ...) in the grant as it came: a NUL byte reaches PostgreSQL, which refuses
it, and the browser gets a 500. Every parameter name and value is checked before oauthlib sees them; a
malformed one is a fatal ``invalid_request``: DOT's error page (400), never a redirect to the client,
since the request cannot be trusted to name a redirect URI. Parameters stored in a bounded column of
the (possibly swapped) grant model are bounded by that column: oauthlib does not check, for example, that
a ``code_challenge`` has at most the 128 characters RFC 7636 allows.
"""

from __future__ import annotations

from django.http import HttpRequest
from oauth2_provider.exceptions import FatalClientError
from oauth2_provider.models import get_grant_model
from oauthlib.oauth2.rfc6749.errors import InvalidRequestFatalError

from .. import untrusted


def refuse_malformed_parameters(request: HttpRequest) -> None:
    """Raise DOT's ``FatalClientError`` when a query or form parameter is not usable text."""
    for params in (request.GET, request.POST):
        for name, values in params.lists():
            if reason := untrusted.problem(name, max_length=untrusted.MAX_ID_LENGTH):
                raise _invalid_request(f"A parameter name {reason}.")
            limit = _grant_column_lengths().get(name, untrusted.MAX_LENGTH)
            for value in values:
                if reason := untrusted.problem(value, max_length=limit):
                    raise _invalid_request(f"{name} {reason}.")


def _grant_column_lengths() -> dict[str, int]:
    """``max_length`` of the grant's columns that hold a request parameter of the same name."""
    fields = {field.name: field for field in get_grant_model()._meta.get_fields()}
    return {
        name: fields[name].max_length
        for name in ("nonce", "code_challenge", "code_challenge_method", "state")
        if name in fields and getattr(fields[name], "max_length", None)
    }


def _invalid_request(description: str) -> FatalClientError:
    return FatalClientError(error=InvalidRequestFatalError(description=description))
