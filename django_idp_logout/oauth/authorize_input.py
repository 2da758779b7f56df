"""The authorize endpoint's parameters through the one gate for untrusted text (``untrusted.py``).

DOT and oauthlib store what a client sends at the authorize endpoint (``nonce``, ``code_challenge``,
``claims``, ``redirect_uri``, ...) in the grant as it came: a NUL byte reaches PostgreSQL, which refuses
it, and the browser gets a 500. Every parameter name and value is checked before oauthlib sees them; a
malformed one is a fatal ``invalid_request``: DOT's error page (400), never a redirect to the client,
since the request cannot be trusted to name a redirect URI.
"""

from __future__ import annotations

from django.http import HttpRequest
from oauth2_provider.exceptions import FatalClientError
from oauthlib.oauth2.rfc6749.errors import InvalidRequestFatalError

from .. import untrusted


def refuse_malformed_parameters(request: HttpRequest) -> None:
    """Raise DOT's ``FatalClientError`` when a query or form parameter is not usable text."""
    for params in (request.GET, request.POST):
        for name, values in params.lists():
            if reason := untrusted.problem(name, max_length=untrusted.MAX_ID_LENGTH):
                raise _invalid_request(f"A parameter name {reason}.")
            for value in values:
                if reason := untrusted.problem(value):
                    raise _invalid_request(f"{name} {reason}.")


def _invalid_request(description: str) -> FatalClientError:
    return FatalClientError(error=InvalidRequestFatalError(description=description))
