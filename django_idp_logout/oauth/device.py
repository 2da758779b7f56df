"""Device authorization grant (RFC 8628): the device's tokens belong to the approving browser's session.

The device has no browser session of its own. The user approves its user code in a browser that is
signed in here (DOT's ``device`` and ``device-confirm`` pages); that browser's ``UserSession`` is the
one the device's tokens join. At approval the device grant is bound to the session and the client
takes part in it (so ending the session notifies the device's client); at the token endpoint the
validator reads that binding and binds the access and refresh tokens like any others
(``validator.IdpLogoutValidatorMixin._save_bearer_token``). Ending the session revokes them for a
coordinated client, and a device that polls after the session ended gets ``invalid_grant``.
"""

from __future__ import annotations

from django.db import transaction
from django.http import JsonResponse
from oauth2_provider.models import get_application_model
from oauth2_provider.views import DeviceAuthorizationView, DeviceConfirmView, TokenView

from .. import browser, untrusted
from ..services import sessions
from .validator import DEVICE_CODE_GRANT_TYPE


def malformed_parameter(params) -> str | None:
    """Why a form of the device flow cannot be used (a value that is not usable text, or one sent
    twice), or None. DOT passes these values to the database unchecked: PostgreSQL refuses a NUL byte
    with an error that would be a 500."""
    try:
        for name in params:
            untrusted.text(name, name="a parameter name", max_length=untrusted.MAX_ID_LENGTH)
            untrusted.single_parameter(params, name)
    except untrusted.MalformedInput as exc:
        return str(exc)
    return None


def invalid_request(description: str) -> JsonResponse:
    """RFC 6749 section 5.2 / RFC 8628 section 3.2: a JSON error, never a 500."""
    return JsonResponse({"error": "invalid_request", "error_description": description}, status=400)


def bind_approval(request, device_grant) -> None:
    """Bind an approved ``device_grant`` to the approving browser's session; its client joins it."""
    user_session = browser.current_user_session(request)
    if user_session is None:
        return
    application = get_application_model().objects.filter(client_id=device_grant.client_id).first()
    if application is None:
        return
    sessions.add_client(user_session, application)
    sessions.bind_token(user_session, application, device_grant=device_grant)


class IdpLogoutDeviceAuthorizationView(DeviceAuthorizationView):
    """DOT's RFC 8628 device authorization endpoint, its parameters through ``untrusted`` first."""

    def post(self, request, *args, **kwargs):
        if request.content_type != "application/x-www-form-urlencoded":
            # RFC 8628 section 3.1; oauthlib 3.3 reads the header unguarded (its absence: a KeyError).
            return invalid_request("Content-Type must be application/x-www-form-urlencoded")
        problem = malformed_parameter(request.POST)
        if problem is not None:
            return invalid_request(problem)
        return super().post(request, *args, **kwargs)


class IdpLogoutTokenView(TokenView):
    """DOT's token endpoint. A device's poll (RFC 8628 section 3.4) is checked before DOT reads the
    device code: DOT looks it up unchecked (a NUL byte is a 500 on PostgreSQL, a missing one a
    ``KeyError``). Every other grant goes to DOT unchanged."""

    def post(self, request, *args, **kwargs):
        if request.POST.get("grant_type") == DEVICE_CODE_GRANT_TYPE:
            problem = malformed_parameter(request.POST)
            if problem is None and not request.POST.get("device_code"):
                problem = "device_code is missing"
            if problem is not None:
                return invalid_request(problem)
        return super().post(request, *args, **kwargs)


class IdpLogoutDeviceConfirmView(DeviceConfirmView):
    """DOT's approve/deny page; an approval is bound to this browser's session in the same transaction."""

    def form_valid(self, form):
        with transaction.atomic():
            response = super().form_valid(form)
            device_grant = self.get_object()  # DOT's cached row, with the status it just saved
            if device_grant.status == device_grant.AUTHORIZED:
                bind_approval(self.request, device_grant)
        return response
