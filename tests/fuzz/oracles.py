"""The oracle every fuzzed endpoint must satisfy, whatever it was sent:

1. never a 5xx;
2. never a redirect (``Location``, meta refresh, or a URL handed to a script) except to our own pages
   or to a URI registered for a client, exactly, with at most ``state`` added;
3. every reflected value escaped: the marker tag from ``strategies.MARKUP_MARKER`` never appears raw
   in an HTML page;
4. on bad input (a 4xx) nothing changed: no session ended or created, no token revoked, no
   notification queued, no ``jti`` recorded (``state_snapshot``).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.apps import apps
from django.contrib.sessions.models import Session
from oauth2_provider.models import (
    get_access_token_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
)

from tests.fuzz.strategies import EVIL_HOST, MARKUP_MARKER

_SCRIPT_OR_META = re.compile(r"<script\b[^>]*>(.*?)</script>|<meta\b[^>]*>", re.IGNORECASE | re.DOTALL)


def state_snapshot() -> tuple:
    """Everything an endpoint could change that a refused request must leave alone."""
    UserSession = apps.get_model("django_idp_logout", "UserSession")
    parts: list = [
        list(UserSession.objects.order_by("pk").values_list("pk", "sid", "ended_at", "end_reason")),
        apps.get_model("django_idp_logout", "SessionClient").objects.count(),
        apps.get_model("django_idp_logout", "BackchannelNotification").objects.count(),
        apps.get_model("django_idp_logout", "UpstreamLogoutToken").objects.count(),
        list(get_access_token_model().objects.order_by("pk").values_list("pk", flat=True)),
        list(get_refresh_token_model().objects.order_by("pk").values_list("pk", "revoked")),
        get_id_token_model().objects.count(),
        get_grant_model().objects.count(),
        list(Session.objects.order_by("session_key").values_list("session_key", flat=True)),
    ]
    if apps.is_installed("django_idp_logout.rp"):
        RPSession = apps.get_model("idp_logout_rp", "RPSession")
        parts.append(list(RPSession.objects.order_by("pk").values_list("pk", "ended_at")))
        parts.append(apps.get_model("idp_logout_rp", "ReceivedLogoutToken").objects.count())
    return tuple(parts)


def without_state(url: str) -> str:
    """``url`` with a ``state`` query parameter removed (the one thing a client redirect may add)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "state"]
    return urlunsplit(parts._replace(query=urlencode(query)))


def redirect_allowed(url: str, registered: set[str]) -> bool:
    if EVIL_HOST in url:
        return False
    parts = urlsplit(url)
    if not parts.scheme and not parts.netloc:  # our own page, same origin
        return url.startswith("/") and not url.startswith("//") and "\\" not in url
    return url in registered or without_state(url) in registered


def check_response(response, *, registered_redirects: set[str] | frozenset[str] = frozenset()) -> None:
    """Assert oracles 1 to 3 on one response."""
    status = response.status_code
    assert status < 500, f"{status}: {response.content[:300]!r}"
    if 300 <= status < 400:
        location = response["Location"]
        assert redirect_allowed(location, set(registered_redirects)), f"redirect to {location!r}"
    content_type = response.get("Content-Type", "")
    if "html" in content_type and not getattr(response, "streaming", False):
        body = response.content.decode("utf-8", "replace")
        assert MARKUP_MARKER not in body.lower(), "a reflected value was not escaped"
        for match in _SCRIPT_OR_META.finditer(body):
            assert EVIL_HOST not in match.group(0), (
                f"a script or meta tag points to a foreign host: {match.group(0)[:200]}"
            )


def check_unchanged_on_refusal(response, before: tuple) -> None:
    """Oracle 4: a refused request (4xx) changed nothing."""
    if 400 <= response.status_code < 500:
        assert state_snapshot() == before, f"state changed on a {response.status_code}"


def check_request(send, *, registered_redirects: set[str] | frozenset[str] = frozenset()):
    """Send one request (``send()`` returns the response) and apply all four oracles to it."""
    before = state_snapshot()
    response = send()
    check_response(response, registered_redirects=registered_redirects)
    check_unchanged_on_refusal(response, before)
    return response
