"""DOT validator mixin: the token endpoint reads each row once.

While validating a code exchange DOT reads the same grant row six times (scopes, ``validate_code``, two
PKCE look-ups, the redirect URI, the nonce) and then its user. It also reads back the ID token it has just
signed, by decoding the string (two statements and a signature check). All the grant reads happen
during validation, before any token is saved, so one read serves them all. The ID token row is the one
``_save_id_token`` has just returned.

The answers are DOT's own; ``tests/test_token_endpoint.py`` compares the two validators on every kind of
grant. The session binding (``validator.IdpLogoutValidatorMixin``) builds on this mixin: it adds its
joins to the single grant read, which is why binding tokens to sessions costs the token endpoint no
statements on a code exchange.
"""

from __future__ import annotations

import contextvars
import json
from contextlib import contextmanager

from oauth2_provider.models import get_grant_model
from oauthlib.oauth2.rfc6749 import utils

from .state import request_state

# The ID token signed in this response, as (serialized, row). It is set only while DOT's
# _create_access_token runs (see ReadOnceValidatorMixin._create_access_token), so no other caller of
# _load_id_token can ever see it.
_just_issued_id_token: contextvars.ContextVar[tuple[str, object] | None] = contextvars.ContextVar(
    "django_idp_logout_just_issued_id_token", default=None
)


@contextmanager
def _id_token_known(issued: tuple[str, object] | None):
    marker = _just_issued_id_token.set(issued)
    try:
        yield
    finally:
        _just_issued_id_token.reset(marker)


# DOT methods this mixin answers without calling super() (check W018 watches for shadowed overrides).
READ_ONCE_METHODS = (
    "get_authorization_code_scopes",
    "validate_code",
    "get_code_challenge",
    "get_code_challenge_method",
    "confirm_redirect_uri",
    "get_authorization_code_nonce",
)


class ReadOnceValidatorMixin:
    """Compose before DOT's ``OAuth2Validator``. Subclasses extend ``grant_queryset`` to read more
    with the grant."""

    @classmethod
    def grant_queryset(cls):
        """The query of the one grant read: the grant and its user (DOT's ``validate_code`` sets it on
        the request)."""
        return get_grant_model().objects.select_related("user")

    def grant_of(self, request, code: str):
        """The grant of ``code``, memoised on oauthlib's request (one token request). ``None`` when
        there is no such code."""
        state = request_state(request)
        cached = state.get("grant")
        if cached is not None and cached[0] == code:
            return cached[1]
        grant = self.grant_queryset().filter(code=code).first()
        state["grant"] = (code, grant)
        return grant

    def _grant_of_client(self, request, code: str, client):
        """The memoised grant when it belongs to ``client`` (DOT's look-ups filter by both), else None."""
        grant = self.grant_of(request, code) if request is not None else None
        if grant is None or client is None or grant.application_id != client.pk:
            return None
        return grant

    def get_authorization_code_scopes(self, client_id, code, redirect_uri, request):
        if request is None:
            return super().get_authorization_code_scopes(client_id, code, redirect_uri, request)
        grant = self.grant_of(request, code)
        return utils.scope_to_list(grant.scope) if grant is not None and grant.scope else []

    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        """DOT's ``validate_code`` on the memoised grant: same checks, same request attributes."""
        grant = self._grant_of_client(request, code, client)
        if grant is None or grant.is_expired():
            return False
        request.scopes = grant.scope.split(" ")
        request.user = grant.user
        if grant.nonce:
            request.nonce = grant.nonce
        if grant.claims:
            request.claims = json.loads(grant.claims)
        return True

    def get_code_challenge(self, code, request):
        grant = self._grant_of_client(request, code, vars(request).get("client"))
        if grant is None:
            return super().get_code_challenge(code, request)
        return grant.code_challenge or None

    def get_code_challenge_method(self, code, request):
        grant = self._grant_of_client(request, code, vars(request).get("client"))
        if grant is None:
            return super().get_code_challenge_method(code, request)
        return grant.code_challenge_method or None

    def confirm_redirect_uri(self, client_id, code, redirect_uri, client, *args, **kwargs):
        request = args[0] if args else kwargs.get("request")
        grant = self._grant_of_client(request, code, client)
        if grant is None:
            return super().confirm_redirect_uri(client_id, code, redirect_uri, client, *args, **kwargs)
        return grant.redirect_uri_allowed(redirect_uri)

    def get_authorization_code_nonce(self, client_id, code, redirect_uri, request):
        if request is None:
            return super().get_authorization_code_nonce(client_id, code, redirect_uri, request)
        grant = self.grant_of(request, code)
        return (grant.nonce or None) if grant is not None else None

    # --- The ID token just signed ---------------------------------------------------------------

    def finalize_id_token(self, id_token, token, token_handler, request):
        serialized = super().finalize_id_token(id_token, token, token_handler, request)
        row = vars(request).get("id_token")  # set by DOT; never a client's "id_token" parameter
        if row is not None:
            request_state(request)["issued_id_token"] = (serialized, row)
        return serialized

    def _create_access_token(self, expires, request, token, source_refresh_token=None):
        issued = request_state(request).get("issued_id_token")
        with _id_token_known(issued if issued is not None and token.get("id_token") == issued[0] else None):
            return super()._create_access_token(expires, request, token, source_refresh_token)

    def _load_id_token(self, token):
        """The ID token signed in this response is the row just saved. Any other string goes through
        DOT (decoded, verified, looked up)."""
        issued = _just_issued_id_token.get()
        if issued is not None and token == issued[0]:  # both are ours: not a secret comparison
            return issued[1]
        return super()._load_id_token(token)
