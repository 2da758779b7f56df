"""DOT oauthlib backend mixin: lets the validator see the Django request of the authorize endpoint.

oauthlib's request object carries no Django user or session. The backend is the last place that has
both, so it publishes the Django request in a context variable for the duration of the oauthlib call.
It is also where the authorization response's redirect is built: ``session_state`` (OIDC Session
Management 1.0) is added there. And it is the authorize endpoint's door: malformed parameters stop here.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager

from django.http import HttpRequest
from oauth2_provider.oauth2_backends import OAuthLibCore

from .authorize_input import refuse_malformed_parameters
from .session_state import add_session_state

_current_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar(
    "django_idp_logout_request", default=None
)


def current_django_request() -> HttpRequest | None:
    """The Django request being handled by the backend, when inside an oauthlib call."""
    return _current_request.get()


@contextmanager
def _publish(request: HttpRequest):
    token = _current_request.set(request)
    try:
        yield
    finally:
        _current_request.reset(token)


class IdpLogoutBackendMixin:
    """Compose into a project's own ``OAuthLibCore`` subclass (before it in the bases)."""

    def validate_authorization_request(self, request):
        refuse_malformed_parameters(request)
        with _publish(request):
            return super().validate_authorization_request(request)

    def create_authorization_response(self, request, scopes, credentials, allow):
        refuse_malformed_parameters(request)
        with _publish(request):
            uri, headers, body, status = super().create_authorization_response(
                request, scopes, credentials, allow
            )
        if uri is not None:
            uri = add_session_state(request, uri, client_id=credentials.get("client_id") or "", scopes=scopes)
            headers["Location"] = uri
        return uri, headers, body, status


class IdpLogoutOAuthLibCore(IdpLogoutBackendMixin, OAuthLibCore):
    """Ready-made backend: ``OAUTH2_PROVIDER["OAUTH2_BACKEND_CLASS"]`` points here."""
