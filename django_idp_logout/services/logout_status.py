"""The progress of one logout, as the logged-out page shows it: each client of the ended session, by
name, with its front-channel iframe and the state of its back-channel notification.

Scoped to one logout: the caller names the session by the ``sid`` and client ids carried in the signed
completed id (``services.context``), and only a session that has ended is read, so nothing here says
anything about a live session or another user's. Two queries, whatever the number of clients.
"""

from __future__ import annotations

from dataclasses import dataclass

from oauth2_provider.models import get_application_model

from ..models import BackchannelNotification, NotificationStatus
from .notifications import frontchannel_url

#: Back-channel states, as the page and the JSON status view name them.
PENDING = "pending"  # queued; no attempt has been answered yet
SENT = "sent"  # the client answered 200/204
RETRYING = "retrying"  # an attempt failed; the outbox tries again later
FAILED = "failed"  # every attempt failed; the admin shows why
FINAL_BACKCHANNEL_STATES = frozenset({SENT, RETRYING, FAILED})


@dataclass(frozen=True)
class ClientLogoutState:
    """One client of the ended session: its name, its iframe URL ("" without front-channel logout) and
    its back-channel state (None when it has no back-channel notification)."""

    client_id: str
    name: str
    frontchannel_url: str
    backchannel: str | None

    def as_json(self) -> dict[str, object]:
        """What the status view may tell the page (not the iframe URL: the page has it already)."""
        return {
            "client_id": self.client_id,
            "name": self.name,
            "frontchannel": bool(self.frontchannel_url),
            "backchannel": self.backchannel,
        }


def backchannel_state(status: str, last_error: str, last_status_code: int | None) -> str:
    """The page's word for an outbox row. A pending row is "retrying" once an attempt has failed (it
    then has an error or an answer recorded); while its first attempt is in flight it is "pending"."""
    if status == NotificationStatus.DELIVERED:
        return SENT
    if status == NotificationStatus.FAILED:
        return FAILED
    return RETRYING if last_error or last_status_code is not None else PENDING


def logout_clients(*, sid: str | None, client_ids: list[str]) -> list[ClientLogoutState]:
    """The clients of the ended session ``sid`` (those in ``client_ids``), sorted by name."""
    if not sid or not client_ids:
        return []
    applications = (
        get_application_model()
        .objects.filter(client_id__in=client_ids)
        .values_list(
            "pk",
            "client_id",
            "name",
            "logout_settings__frontchannel_logout_uri",
            "logout_settings__frontchannel_logout_session_required",
        )
    )
    notified = {
        application_id: backchannel_state(status, last_error, last_status_code)
        for application_id, status, last_error, last_status_code in BackchannelNotification.objects.filter(
            user_session__sid=sid,
            user_session__ended_at__isnull=False,
            application__client_id__in=client_ids,
        ).values_list("application_id", "status", "last_error", "last_status_code")
    }
    states = [
        ClientLogoutState(
            client_id=client_id,
            name=name or client_id,
            frontchannel_url=frontchannel_url(fc_uri, session_required=bool(required), sid=sid)
            if fc_uri
            else "",
            backchannel=notified.get(pk),
        )
        for pk, client_id, name, fc_uri, required in applications
    ]
    return sorted(states, key=lambda state: (state.name.casefold(), state.client_id))


def is_settled(states: list[ClientLogoutState]) -> bool:
    """Whether no back-channel notification is still waiting for its first answer."""
    return all(state.backchannel in (None, *FINAL_BACKCHANNEL_STATES) for state in states)
