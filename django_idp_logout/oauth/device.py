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
from oauth2_provider.models import get_application_model
from oauth2_provider.views import DeviceConfirmView

from .. import browser
from ..services import sessions


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


class IdpLogoutDeviceConfirmView(DeviceConfirmView):
    """DOT's approve/deny page; an approval is bound to this browser's session in the same transaction."""

    def form_valid(self, form):
        with transaction.atomic():
            response = super().form_valid(form)
            device_grant = self.get_object()  # DOT's cached row, with the status it just saved
            if device_grant.status == device_grant.AUTHORIZED:
                bind_approval(self.request, device_grant)
        return response
