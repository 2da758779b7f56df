"""The logout request: the ``logout_id`` and the logout context (Duende's ``LogoutRequest``).

The end session endpoint validates the RP's parameters once, then hands the result to the logout
page as a ``logout_id``: a signed, timestamped, compressed token (``django.core.signing``, salted,
``SECRET_KEY_FALLBACKS`` honoured). Nothing is stored server-side, so an anonymous flood of logout
requests writes nothing. After the user has been signed out, the same data travels on to the
logged-out page as a *completed* token under another salt, so a ``logout_id`` that was never
confirmed cannot be replayed there to trigger a redirect.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.core import signing
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare
from oauth2_provider.models import get_application_model

from .. import browser, untrusted
from ..conf import app_settings, dot_always_prompt
from .notifications import frontchannel_urls
from .subject import subject_for

# The longest logout_id / completed id we read: far above what _dumps makes from the bounded parameters.
MAX_SIGNED_ID_LENGTH = 16384

PENDING_SALT = "django_idp_logout.logout_id"
COMPLETED_SALT = "django_idp_logout.logged_out"


class InvalidLogoutId(Exception):
    """The ``logout_id`` is tampered, expired or malformed; ``str(exc)`` is safe to show."""


@dataclass
class LogoutRequest:
    """What the end session endpoint established, plus what the current session says about it.

    ``client_proven`` is True when a valid ``id_token_hint`` identified the client: only then may the
    prompt be skipped, and only then (or after the user's explicit confirmation) may the browser be
    sent to ``post_logout_redirect_uri``.
    """

    client_id: str | None = None
    client_name: str | None = None
    post_logout_redirect_uri: str | None = None
    state: str | None = None
    ui_locales: str | None = None
    logout_hint: str | None = None
    client_proven: bool = False
    subject: str | None = None
    hint_sid: str | None = None
    session_id: str | None = None
    client_ids: list[str] = field(default_factory=list)
    frontchannel_logout_urls: list[str] = field(default_factory=list)
    parameters: dict[str, str] = field(default_factory=dict)
    binding: str = ""
    show_signout_prompt: bool = True

    def redirect_url(self, *, confirmed: bool) -> str | None:
        """The validated post-logout redirect with ``state``, if the client may receive the browser."""
        if not self.post_logout_redirect_uri or not (self.client_proven or confirmed):
            return None
        return append_state(self.post_logout_redirect_uri, self.state)


def append_state(uri: str, state: str | None) -> str:
    """Add exactly ``state`` to the registered URI (RP-Initiated Logout 1.0 section 3), nothing else."""
    if not state:
        return uri
    separator = "&" if "?" in uri else "?"
    return f"{uri}{separator}{urlencode({'state': state})}"


_PAYLOAD_FIELDS = (
    "client_id",
    "post_logout_redirect_uri",
    "state",
    "ui_locales",
    "logout_hint",
    "client_proven",
    "subject",
    "hint_sid",
    "session_id",
    "client_ids",
    "parameters",
    "binding",
    "confirmed",
)


def _dumps(data: dict[str, Any], *, salt: str) -> str:
    compact = {k: v for k, v in data.items() if k in _PAYLOAD_FIELDS and v not in (None, "", [], {}, False)}
    return signing.dumps(compact, salt=salt, compress=True)


def _loads(value: str, *, salt: str) -> dict[str, Any]:
    if not value:
        raise InvalidLogoutId("missing")
    if untrusted.problem(value, max_length=MAX_SIGNED_ID_LENGTH):
        raise InvalidLogoutId("malformed")
    try:
        data = signing.loads(value, salt=salt, max_age=app_settings.LOGOUT_ID_MAX_AGE)
    except signing.SignatureExpired:
        raise InvalidLogoutId("expired")
    except (signing.BadSignature, ValueError, TypeError, UnicodeDecodeError):
        raise InvalidLogoutId("invalid")
    if not isinstance(data, dict):
        raise InvalidLogoutId("invalid")
    return data


def create_logout_id(request: HttpRequest, logout_request: LogoutRequest) -> str:
    """Sign ``logout_request`` for the logout page, bound to the current session (if signed in)."""
    data = asdict(logout_request)
    data["binding"] = browser.current_sid(request)
    return _dumps(data, salt=PENDING_SALT)


def create_completed_id(logout_request: LogoutRequest, *, confirmed: bool) -> str:
    """Sign the data the logged-out page needs once the logout has happened."""
    data = asdict(logout_request)
    data["binding"] = ""
    data["confirmed"] = confirmed
    return _dumps(data, salt=COMPLETED_SALT)


def _build(data: dict[str, Any]) -> LogoutRequest:
    known = {k: data[k] for k in _PAYLOAD_FIELDS if k in data and k != "confirmed"}
    logout_request = LogoutRequest(**known)
    if logout_request.client_id:
        app = get_application_model().objects.filter(client_id=logout_request.client_id).first()
        if app is None:  # deleted since: forget the client, never redirect to it
            return LogoutRequest(
                ui_locales=logout_request.ui_locales,
                binding=logout_request.binding,
                session_id=logout_request.session_id,
                client_ids=logout_request.client_ids,
            )
        logout_request.client_name = app.name or app.client_id
    return logout_request


def get_logout_context(request: HttpRequest, logout_id: str | None) -> LogoutRequest:
    """Public API (Duende's ``GetLogoutContextAsync``): the logout request for a ``logout_id``.

    Without a ``logout_id`` (the user opened the logout page directly) the request is empty and the
    prompt is shown. ``show_signout_prompt`` is False only when a validated hint for THIS session's
    user identified the client and the ``logout_id`` was made in this very session.
    Raises ``InvalidLogoutId`` for a tampered or expired value.
    """
    logout_request = _build(_loads(logout_id, salt=PENDING_SALT)) if logout_id else LogoutRequest()
    user_session = browser.current_user_session(request)
    if user_session is not None:
        logout_request.session_id = user_session.sid
        logout_request.client_ids = sorted(
            user_session.session_clients.values_list("application__client_id", flat=True)
        )
        logout_request.frontchannel_logout_urls = frontchannel_urls(
            sid=logout_request.session_id, client_ids=logout_request.client_ids
        )
    logout_request.show_signout_prompt = not _may_skip_prompt(request, logout_request)
    return logout_request


def get_completed_context(completed_id: str | None) -> tuple[LogoutRequest, bool]:
    """The logout request behind a completed id, and whether the user confirmed it explicitly."""
    if not completed_id:
        return LogoutRequest(), False
    data = _loads(completed_id, salt=COMPLETED_SALT)
    logout_request = _build(data)
    logout_request.frontchannel_logout_urls = frontchannel_urls(
        sid=logout_request.session_id, client_ids=logout_request.client_ids
    )
    return logout_request, bool(data.get("confirmed"))


def prompt_enabled() -> bool:
    """``SHOW_LOGOUT_PROMPT``, unless DOT's ``OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT`` is explicitly True:
    that one asks for the prompt every time and wins (check W101 names the contradiction)."""
    return app_settings.SHOW_LOGOUT_PROMPT or dot_always_prompt()


def _may_skip_prompt(request: HttpRequest, logout_request: LogoutRequest) -> bool:
    if not request.user.is_authenticated:
        return True  # nothing to confirm: nobody to sign out
    if dot_always_prompt():
        return False
    own_sid = browser.current_sid(request)
    if not logout_request.client_proven or not constant_time_compare(own_sid, logout_request.binding or "-"):
        return False
    # The client must have taken part in this session: a client the user never used (which, for HS256,
    # can sign a hint for any subject with its own secret) never skips the prompt.
    if logout_request.client_id not in logout_request.client_ids:
        return False
    # The hint must belong to THIS session (RP-Initiated Logout 1.0 section 2): by sid when the hint
    # has one, else by subject.
    if logout_request.hint_sid:
        return constant_time_compare(logout_request.hint_sid, own_sid)
    application = get_application_model().objects.filter(client_id=logout_request.client_id).first()
    subject = subject_for(request.user, application)
    return subject is not None and logout_request.subject == subject
