"""DOT validator mixin: tokens belong to the login session that authorized them.

- Authorization codes, access tokens, refresh tokens (across rotation) and ID tokens are bound to the
  ``UserSession`` of the browser that authorized the client; the client joins the session.
- ID tokens carry the session's ``sid`` (refreshed ones included; userinfo does not).
- A refresh of an ended or expired session of a coordinated client fails with ``invalid_grant``; a
  successful refresh counts as activity. Token issuance locks the session row, as ``end_session``
  does, so a refresh racing with logout never leaves a usable token of the ended session.
- Device grant tokens are bound to the session of the browser that approved the user code (``device``).
- Silent re-authentication (``prompt=none``) is implemented: DOT 3.4.1 answers it with a 500.
- Built on ``lookups.ReadOnceValidatorMixin``: the code's binding comes with the one read of the
  grant, so binding costs a code exchange no statements (docs/benchmarks.md has the accounting).
"""

from __future__ import annotations

import logging

from django.db import router, transaction
from django.db.models import F
from django.utils import timezone
from oauth2_provider.models import get_access_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.settings import oauth2_settings
from oauthlib.common import Request
from oauthlib.oauth2.rfc6749 import errors

from ..models import SessionToken, UserSession
from ..services import sessions
from . import cimd
from .backend import current_django_request
from .lookups import ReadOnceValidatorMixin
from .state import request_state

logger = logging.getLogger(__name__)

# ``get_additional_claims`` function -> whether it takes no request (DOT's two forms of claim code).
_REQUEST_AGNOSTIC: dict[object, bool] = {}

# Keys of request_state(request): never plain attributes, which a client can plant (see .state).
SESSION = "user_session"  # the UserSession the request belongs to (None: unknown or none)
COORDINATED = "coordinated"  # the client's effective coordinate setting, when known
PENDING = "pending_bindings"  # bindings _save_bearer_token writes in one INSERT
DEFERRED = "deferred_id_token_bindings"  # ID token bindings waiting for that INSERT

DEVICE_CODE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"  # RFC 8628 section 3.4


def _session_of(request) -> UserSession | None:
    """The session the oauthlib request belongs to: set by validate_code / validate_refresh_token,
    or, at the authorize endpoint, the browser's own session."""
    state = request_state(request)
    user_session = state.get(SESSION)
    if user_session is None:
        django_request = current_django_request()
        if django_request is not None:
            from .. import browser

            user_session = state[SESSION] = browser.current_user_session(django_request)
            if user_session is not None and vars(request).get("client") is not None:
                # An authorization at the authorize endpoint (code, implicit or hybrid): the client
                # takes part in the session.
                sessions.add_client(user_session, request.client)
    return user_session


def _at_authorize_endpoint() -> bool:
    """The backend publishes the Django request only around the authorize endpoint's oauthlib calls.
    (``grant_type`` cannot tell: at the authorize endpoint it is whatever the client put in the URL.)"""
    return current_django_request() is not None


def _bearer_save_follows(request) -> bool:
    """Whether oauthlib will call save_bearer_token later in this response: always at the token
    endpoint, and at the authorize endpoint when an access token is part of the response type."""
    if not _at_authorize_endpoint():
        return True
    return "token" in (request.response_type or "").split()


def _is_device_token_request(request) -> bool:
    """A device polling the token endpoint with its device code (the grant type oauthlib dispatched)."""
    return (
        not _at_authorize_endpoint()
        and request.grant_type == DEVICE_CODE_GRANT_TYPE
        and SESSION not in request_state(request)
    )


_BINDING_FIELDS = (
    "user_session_id",
    "user_session__sid",
    "user_session__user_id",
    "user_session__created_at",
    "user_session__last_activity",
    "user_session__ended_at",
    "application__logout_settings__coordinate_lifetime_with_user_session",
)


def _put_binding(request, row: tuple | None) -> UserSession | None:
    """Put the session a code or refresh token belongs to, and the client's effective coordinate
    setting, on the request, from a row of ``_BINDING_FIELDS`` (``None``: the token is not bound)."""
    state = request_state(request)
    if row is None or row[0] is None:
        state[SESSION] = None
        return None
    pk, sid, user_id, created_at, last_activity, ended_at, own = row
    user_session = UserSession(
        pk=pk, sid=sid, user_id=user_id, created_at=created_at, last_activity=last_activity, ended_at=ended_at
    )
    state[SESSION] = user_session
    state[COORDINATED] = sessions.effective_coordinate(own)
    return user_session


def _load_binding(request, **token) -> UserSession | None:
    """The binding of a refresh token: one flat query on the token endpoint's hot path."""
    rows = SessionToken.objects.filter(**token).values_list(*_BINDING_FIELDS)[:1]
    return _put_binding(request, rows[0] if rows else None)


# The same fields, read with the grant (see grant_queryset) as annotations: name -> expression.
_GRANT_BINDING = {
    f"_idp_binding_{i}": F(f"idp_logout_binding__{path}") for i, path in enumerate(_BINDING_FIELDS)
}


class IdpLogoutValidatorMixin(ReadOnceValidatorMixin):
    """Compose into a project's own ``OAuth2Validator`` subclass (before it in the bases)."""

    @classmethod
    def grant_queryset(cls):
        """The grant read also brings its session binding and its client's coordinate setting, as flat
        columns (no extra model instances)."""
        return super().grant_queryset().annotate(**_GRANT_BINDING)

    # --- Binding tokens to the session ---------------------------------------------------------

    def _create_authorization_code(self, request, code, expires=None):
        grant = super()._create_authorization_code(request, code, expires)
        user_session = _session_of(request)
        if user_session is not None:
            sessions.bind_token(user_session, request.client, grant=grant)
        return grant

    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        valid = super().validate_code(client_id, code, client, request, *args, **kwargs)
        if valid:  # the grant, its binding and the client's settings were read with it: no query
            grant = self.grant_of(request, code)
            _put_binding(request, tuple(getattr(grant, name) for name in _GRANT_BINDING))
        return valid

    def _create_access_token(self, expires, request, token, source_refresh_token=None):
        access_token = super()._create_access_token(expires, request, token, source_refresh_token)
        self._bind_later(request, access_token=access_token)
        return access_token

    def _create_refresh_token(self, request, refresh_token_code, access_token, previous_refresh_token):
        refresh_token = super()._create_refresh_token(
            request, refresh_token_code, access_token, previous_refresh_token
        )
        self._bind_later(request, refresh_token=refresh_token)
        return refresh_token

    def _bind_later(self, request, **token) -> None:
        """Collect a binding; ``_save_bearer_token`` writes them all with one INSERT."""
        user_session = _session_of(request)
        if user_session is None:
            return
        pending = request_state(request).get(PENDING)
        if pending is None:  # outside _save_bearer_token (a DOT subclass calling us directly)
            sessions.bind_token(user_session, request.client, **token)
        else:
            pending.append(SessionToken(user_session=user_session, application=request.client, **token))

    def _save_id_token(self, jti, request, expires, *args, **kwargs):
        # No lock here: an ID token saved after the session ended is never returned, because the
        # bearer token save of the same response is refused under the lock (and the row is bound,
        # so it goes with the session's other tokens).
        id_token = super()._save_id_token(jti, request, expires, *args, **kwargs)
        user_session = _session_of(request)
        if user_session is None:
            return id_token
        if _bearer_save_follows(request):
            # Written with the access/refresh token bindings, in one INSERT, by _save_bearer_token.
            request_state(request).setdefault(DEFERRED, []).append(
                SessionToken(user_session=user_session, application=request.client, id_token=id_token)
            )
        else:
            sessions.bind_token(user_session, request.client, id_token=id_token)
        return id_token

    def get_id_token_dictionary(self, token, token_handler, request):
        claims, expiration_time = super().get_id_token_dictionary(token, token_handler, request)
        user_session = _session_of(request)
        if user_session is not None:
            claims["sid"] = user_session.sid  # OIDC Front-/Back-Channel Logout 1.0: same value everywhere
        return claims, expiration_time

    def get_subject(self, user, application=None) -> str | None:
        """The ``sub`` this OP gives ``user``: what DOT's claim code (``get_claim_dict``, so including a
        project's ``get_additional_claims``) puts in ID tokens. Logout tokens and hint matching use it,
        outside any token request, so the claim code runs on a minimal request (user, client, scope
        ``openid``), in a savepoint when a transaction is open (a query of that code that fails must not
        break it; in autocommit mode, as in the delivery worker, nothing is open and no savepoint is
        needed). ``None`` when that code needs more and fails: logout tokens then name only the ``sid``
        and hints match only by ``sid`` (a guessed ``sub`` could be another user's). Override this when
        your ``sub`` cannot be computed this way."""
        request = Request("")
        request.user, request.client, request.scopes, request.claims = user, application, ["openid"], None
        using = router.db_for_read(type(user))
        try:
            if transaction.get_autocommit(using):
                return self._subject_from_claims(request)
            with transaction.atomic(using=using):
                return self._subject_from_claims(request)
        except Exception:
            logger.warning(
                "django_idp_logout: the validator's claim code failed outside a token request, so this "
                "sub is unknown: logout tokens carry only the sid. Override get_subject() to fix this.",
                exc_info=True,
            )
            return None

    @classmethod
    def _get_additional_claims_is_request_agnostic(cls):
        # DOT asks this twice per claim dict (ID tokens, userinfo, and every logout token's ``sub``), each
        # time through ``inspect.signature``: remember its answer per ``get_additional_claims``.
        function = cls.get_additional_claims
        answer = _REQUEST_AGNOSTIC.get(function)
        if answer is None:
            answer = _REQUEST_AGNOSTIC[function] = super()._get_additional_claims_is_request_agnostic()
        return answer

    def _subject_from_claims(self, request) -> str:
        sub = self.get_claim_dict(request)["sub"]
        return str(sub(request) if callable(sub) else sub)

    def get_discovery_claims(self, request):
        return [*super().get_discovery_claims(request), "sid"]

    # --- Refresh: ended sessions, activity, and the race with logout ---------------------------------

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs):
        if not super().validate_refresh_token(refresh_token, client, request, *args, **kwargs):
            return False
        user_session = _load_binding(request, refresh_token=request.refresh_token_instance)
        if user_session is not None and not sessions.is_live(user_session):
            access_token = request.refresh_token_instance.access_token
            scopes = access_token.scope.split() if access_token is not None else []
            return sessions.may_outlive_session(client, scopes)
        return True

    def _save_bearer_token(self, token, request, *args, **kwargs):
        # Runs inside DOT's transaction (save_bearer_token): the row lock taken here is held until the
        # new tokens are committed, so end_session either waits for them or they see it ended.
        if _is_device_token_request(request):
            # RFC 8628: the session is the one of the browser that approved the user code.
            _load_binding(
                request,
                device_grant__device_code=request._params.get("device_code"),
                application=request.client,
            )
        user_session = _session_of(request)
        if user_session is None:
            return super()._save_bearer_token(token, request, *args, **kwargs)
        state = request_state(request)
        if state.get(COORDINATED, True):
            # Only tokens that must die with the session need the lock; a client that is not
            # coordinated keeps its tokens after logout by design (unknown here: lock anyway).
            user_session = self._refuse_if_ended(user_session, request)
        if not _at_authorize_endpoint() and request.grant_type == "refresh_token":
            sessions.record_activity(user_session)
        state[PENDING] = state.pop(DEFERRED, [])
        try:
            result = super()._save_bearer_token(token, request, *args, **kwargs)
            SessionToken.objects.bulk_create(state[PENDING])
        finally:
            del state[PENDING]
        return result

    def _refuse_if_ended(self, user_session: UserSession, request) -> UserSession:
        """Lock the session row (as ``end_session`` does); refuse a coordinated client's tokens for an
        ended or expired session with ``invalid_grant``. Inside DOT's transaction no savepoint is
        needed: the lock lasts until its commit."""
        database = router.db_for_write(UserSession)
        if transaction.get_connection(database).in_atomic_block:
            locked = UserSession.objects.select_for_update().get(pk=user_session.pk)
        else:
            with transaction.atomic(using=database):
                locked = UserSession.objects.select_for_update().get(pk=user_session.pk)
        if not sessions.is_live(locked) and not sessions.may_outlive_session(request.client, request.scopes):
            raise errors.InvalidGrantError(description="The user's session has ended.", request=request)
        return locked

    # --- Client ID Metadata Documents -----------------------------------------------------------

    def _load_application(self, client_id, request):
        """DOT stores a CIMD client on first sight (or refreshes a stale one) in here; its logout
        metadata, checked by the fetcher, is stored right after (see ``cimd``)."""
        with cimd.collecting():
            application = super()._load_application(client_id, request)
            if application is not None:
                cimd.store_fetched(application)
        return application

    # --- Silent re-authentication (prompt=none) ----------------------------------------------------

    def validate_silent_login(self, request) -> bool:
        """The browser is signed in with a live session. DOT's ``AuthorizationView`` only reaches the
        validator for a signed-in user (anonymous ``prompt=none`` gets ``login_required`` before)."""
        django_request = current_django_request()
        return bool(django_request is not None and django_request.user.is_authenticated)

    def validate_silent_authorization(self, request) -> bool:
        """Consent is not needed, by the same rule DOT's ``AuthorizationView`` applies next: the client
        skips it, or ``approval_prompt`` is "auto" and the user holds a live token of this client
        covering the requested scopes. Otherwise the answer is ``consent_required``, never a form."""
        client = vars(request).get("client")  # set by client validation; never a "client" parameter
        if client is None:
            return False
        if client.skip_authorization:
            return True
        django_request = current_django_request()
        if django_request is None or not django_request.user.is_authenticated:
            return False
        approval_prompt = django_request.GET.get("approval_prompt", oauth2_settings.REQUEST_APPROVAL_PROMPT)
        if approval_prompt != "auto":
            return False
        tokens = get_access_token_model().objects.filter(
            user=django_request.user, application=client, expires__gt=timezone.now()
        )
        return any(token.allow_scopes(request.scopes) for token in tokens)


class IdpLogoutOAuth2Validator(IdpLogoutValidatorMixin, OAuth2Validator):
    """Ready-made validator: ``OAUTH2_PROVIDER["OAUTH2_VALIDATOR_CLASS"]`` points here."""
