"""Validation of an end session request (OpenID Connect RP-Initiated Logout 1.0, sections 2 and 3).

Turns the RP's parameters into a ``LogoutRequest`` or refuses them with ``EndSessionError``, whose
message is shown on the 400 page. It signs nobody out (DESIGN rule 1): that happens on the logout page.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from oauth2_provider.models import get_application_model
from oauth2_provider.settings import oauth2_settings

from ..oauth.hints import InvalidHint, verify_id_token_hint
from .context import LogoutRequest


class EndSessionError(Exception):
    """The request is refused; ``str(exc)`` says what was wrong, for the error page."""


def validate_end_session_request(
    *,
    id_token_hint: str | None,
    client_id: str | None,
    post_logout_redirect_uri: str | None,
    state: str | None,
    ui_locales: str | None,
    logout_hint: str | None,
    request: HttpRequest | None = None,
) -> LogoutRequest:
    """Check the parameters against the spec and the client registry; return the logout request."""
    application = None
    subject = sid = None
    if id_token_hint:
        try:
            hint = verify_id_token_hint(id_token_hint, client_id=client_id, request=request)
        except InvalidHint as exc:
            raise EndSessionError(exc.args[0])
        application, subject, sid = hint.application, hint.subject, hint.sid
    elif client_id:
        application = get_application_model().objects.filter(client_id=client_id).first()
        if application is None:
            raise EndSessionError(_("The client_id does not belong to a registered client."))

    if post_logout_redirect_uri:
        if application is None:
            raise EndSessionError(
                _("A post_logout_redirect_uri needs an id_token_hint or a client_id to identify the client.")
            )
        if not redirect_uri_registered(application, post_logout_redirect_uri):
            raise EndSessionError(_("The post_logout_redirect_uri is not registered for this client."))
        if not strict_scheme_allowed(application, post_logout_redirect_uri):
            raise EndSessionError(
                _("An http post_logout_redirect_uri is only allowed for confidential clients.")
            )

    parameters = {
        name: value
        for name, value in (
            ("client_id", client_id),
            ("post_logout_redirect_uri", post_logout_redirect_uri),
            ("state", state),
            ("ui_locales", ui_locales),
            ("logout_hint", logout_hint),
        )
        if value
    }
    return LogoutRequest(
        client_id=application.client_id if application else None,
        client_name=(application.name or application.client_id) if application else None,
        post_logout_redirect_uri=post_logout_redirect_uri or None,
        state=state or None,
        ui_locales=ui_locales or None,
        logout_hint=logout_hint or None,
        client_proven=bool(id_token_hint),
        subject=subject,
        hint_sid=sid,
        parameters=parameters,
    )


def redirect_uri_registered(application, uri: str) -> bool:
    """Exact, case-sensitive string match against ``post_logout_redirect_uris`` (section 3).

    Stricter than DOT's redirect matcher on purpose: no loopback port variation, no added query, and
    only schemes the client may use.
    """
    if uri not in application.post_logout_redirect_uris.split():
        return False
    return urlsplit(uri).scheme in application.get_allowed_schemes()


def strict_scheme_allowed(application, uri: str) -> bool:
    """DOT's ``OIDC_RP_INITIATED_LOGOUT_STRICT_REDIRECT_URIS`` rule, kept for projects that set it: an
    http post-logout redirect only for confidential clients (DOT's ``validate_post_logout_redirect_uri``)."""
    if not oauth2_settings.OIDC_RP_INITIATED_LOGOUT_STRICT_REDIRECT_URIS:
        return True
    return urlsplit(uri).scheme != "http" or application.client_type == application.CLIENT_CONFIDENTIAL
