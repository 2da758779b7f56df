"""Admin: the back-channel circuits (which clients are paused, why, until when) and resuming a client,
linked from the notification list's delivery summary."""

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone
from oauth2_provider.models import get_application_model

from django_idp_logout.models import BackchannelCircuit, BackchannelNotification, EndReason, UserSession
from django_idp_logout.services.outbox import Outbox
from tests.test_admin import action_choices, changelist_rows, staff_factory  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

CIRCUITS = "admin:django_idp_logout_backchannelcircuit_changelist"
NOTIFICATIONS = "admin:django_idp_logout_backchannelnotification_changelist"


@pytest.fixture
def circuits(user, application_factory, logout_settings_factory):
    """portal: paused for 10 more minutes after its second pause in a row, 3 notifications due;
    wiki: sending, 2 failures in a row so far; shop: its pause is over (the next attempt decides)."""
    now = timezone.now()
    made = {}
    for name, fields in {
        "portal": {
            "paused_until": now + timedelta(minutes=10),
            "pauses": 2,
            "last_error": "HTTP 503 Service Unavailable",
        },
        "wiki": {"consecutive_failures": 2, "last_error": "timed out after 5s"},
        "shop": {
            "paused_until": now - timedelta(minutes=1),
            "pauses": 1,
            "last_error": "connection failed: ClientConnectorError",
        },
    }.items():
        app = application_factory(client_id=name, name=name.title())
        logout_settings_factory(app, backchannel_logout_uri=f"https://{name}.example.com/bc")
        made[name] = BackchannelCircuit.objects.create(application=app, **fields)
    for _ in range(3):
        BackchannelNotification.objects.create(
            user_session=UserSession.objects.create(user=user, ended_at=now, end_reason=EndReason.TERMINATED),
            application=made["portal"].application,
            uri="https://portal.example.com/bc",
            reason=EndReason.TERMINATED,
        )
    return made


def claimed_clients() -> set[str]:
    """What a delivery worker would send now: the clients of the rows the outbox's claim takes."""
    messages = Outbox().claim(100)
    return set(
        get_application_model()
        .objects.filter(pk__in={m.client for m in messages})
        .values_list("client_id", flat=True)
    )


def resume(browser, *circuits, follow=True):
    return browser.post(
        reverse(CIRCUITS),
        {"action": "resume_clients", "_selected_action": [c.pk for c in circuits]},
        follow=follow,
    )


# --- the list --------------------------------------------------------------------------------------------


def test_list_shows_which_clients_are_paused_why_and_until_when(admin_client, circuits):
    response = admin_client.get(reverse(CIRCUITS))
    assert response.status_code == HTTPStatus.OK
    rows = changelist_rows(response)
    portal, wiki, shop = (rows[circuits[name].pk] for name in ("portal", "wiki", "shop"))
    assert portal["client"] == "Portal"
    assert portal["state"].startswith("paused until ")
    assert portal["error"] == "HTTP 503 Service Unavailable"
    assert (portal["consecutive_failures"], portal["pauses"]) == ("0", "2")
    assert (wiki["state"], wiki["consecutive_failures"], wiki["error"]) == (
        "sending",
        "2",
        "timed out after 5s",
    )
    assert shop["state"] == "pause over: next attempt decides"
    assert list(rows)[0] == circuits["portal"].pk  # paused clients first

    paused_only = changelist_rows(admin_client.get(reverse(CIRCUITS), {"state": "paused"}))
    assert list(paused_only) == [circuits["portal"].pk]
    not_paused = changelist_rows(admin_client.get(reverse(CIRCUITS), {"state": "sending"}))
    assert set(not_paused) == {circuits["wiki"].pk, circuits["shop"].pk}
    found = changelist_rows(admin_client.get(reverse(CIRCUITS), {"q": "wik"}))
    assert list(found) == [circuits["wiki"].pk]


def test_a_circuit_is_read_only_and_goes_with_its_client(admin_client, circuits):
    portal = circuits["portal"]
    change = reverse("admin:django_idp_logout_backchannelcircuit_change", args=[portal.pk])
    page = admin_client.get(change)
    assert page.status_code == HTTPStatus.OK
    assert page.context["has_change_permission"] is False  # the read-only view: no Save buttons
    assert "HTTP 503 Service Unavailable" in page.content.decode()
    admin_client.post(change, {"pauses": "0", "consecutive_failures": "0", "last_error": ""})
    portal.refresh_from_db()
    assert (portal.pauses, portal.last_error) == (2, "HTTP 503 Service Unavailable")
    assert admin_client.get(reverse("admin:django_idp_logout_backchannelcircuit_add")).status_code == 403

    # Deleting a client in the admin deletes its circuit with it (not refused for lack of permission).
    application = circuits["wiki"].application
    delete = reverse(
        f"admin:{application._meta.app_label}_{application._meta.model_name}_delete", args=[application.pk]
    )
    assert admin_client.get(delete).context["perms_lacking"] == set()
    assert admin_client.post(delete, {"post": "yes"}).status_code == HTTPStatus.FOUND
    assert set(BackchannelCircuit.objects.values_list("application__client_id", flat=True)) == {
        "portal",
        "shop",
    }


# --- resuming ----------------------------------------------------------------------------------------------


def test_resuming_a_paused_client_lets_a_worker_claim_its_due_notifications(admin_client, circuits):
    portal = circuits["portal"]
    assert claimed_clients() == set()  # paused: nobody claims its rows, though they are due

    response = resume(admin_client, portal)
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "1 client resumed: its due notifications go out with the next delivery run."
    ]
    portal.refresh_from_db()
    assert (portal.paused_until, portal.consecutive_failures, portal.pauses) == (None, 0, 0)
    assert portal.last_error == "HTTP 503 Service Unavailable"  # kept: why it was paused
    entry = LogEntry.objects.get(object_id=str(portal.pk))
    assert entry.user.username == "admin" and entry.is_change()
    assert entry.get_change_message() == "Changed paused until, failures in a row and pauses in a row."
    assert changelist_rows(admin_client.get(reverse(CIRCUITS)))[portal.pk]["state"] == "sending"

    assert claimed_clients() == {"portal"}
    assert BackchannelNotification.objects.filter(attempts=1).count() == 3  # all three, once


def test_resuming_counts_only_circuits_that_changed(admin_client, circuits):
    BackchannelCircuit.objects.filter(pk=circuits["wiki"].pk).update(
        consecutive_failures=0
    )  # nothing to reset
    response = resume(admin_client, circuits["wiki"], circuits["shop"])
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "1 client resumed: its due notifications go out with the next delivery run."
    ]
    assert LogEntry.objects.count() == 1
    response = resume(admin_client, circuits["portal"], circuits["shop"])
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "1 client resumed: its due notifications go out with the next delivery run."
    ]


def test_resuming_needs_the_change_permission(circuits, staff_factory):
    viewer = staff_factory("viewer", "view_backchannelcircuit")
    response = viewer.get(reverse(CIRCUITS))
    assert response.status_code == HTTPStatus.OK
    assert "HTTP 503 Service Unavailable" in response.content.decode()  # listed (no checkboxes: no action)
    assert action_choices(response) == []
    resume(viewer, circuits["portal"])
    circuits["portal"].refresh_from_db()
    assert circuits["portal"].paused_until is not None and claimed_clients() == set()

    nobody = staff_factory("nobody")
    assert nobody.get(reverse(CIRCUITS)).status_code == HTTPStatus.FORBIDDEN

    operator = staff_factory("operator", "view_backchannelcircuit", "change_backchannelcircuit")
    assert action_choices(operator.get(reverse(CIRCUITS))) == ["resume_clients"]
    resume(operator, circuits["portal"])
    circuits["portal"].refresh_from_db()
    assert circuits["portal"].paused_until is None


# --- the link from the delivery summary ------------------------------------------------------------------


def test_the_delivery_summary_links_paused_clients_to_their_circuits(admin_client, circuits, staff_factory):
    page = admin_client.get(reverse(NOTIFICATIONS)).content.decode()
    link = f'href="{reverse(CIRCUITS)}?state=paused" id="idp-logout-paused-clients"'
    assert "<td>portal (<a " in page and link in page
    # Someone who may not see circuits gets the names without the link.
    notifications_only = staff_factory("support", "view_backchannelnotification")
    page = notifications_only.get(reverse(NOTIFICATIONS)).content.decode()
    assert "<td>portal</td>" in page and "idp-logout-paused-clients" not in page
    # No paused client, no link.
    BackchannelCircuit.objects.update(paused_until=None)
    assert "idp-logout-paused-clients" not in admin_client.get(reverse(NOTIFICATIONS)).content.decode()


def test_a_german_operator_reads_the_list_and_the_summary_in_german(admin_client, circuits):
    admin_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "de"
    page = admin_client.get(reverse(CIRCUITS)).content.decode()
    assert "pausiert bis " in page and "wird beliefert" in page
    assert "Ausgewählte Clients jetzt fortsetzen (Schutzschalter schließen)" in page
    summary = admin_client.get(reverse(NOTIFICATIONS)).content.decode()
    assert "Zustellstatus" in summary and "Jetzt fällig" in summary and "Grund ansehen, fortsetzen" in summary
    response = resume(admin_client, circuits["portal"])
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "1 Client fortgesetzt: seine fälligen Benachrichtigungen gehen mit dem nächsten Zustelllauf hinaus."
    ]
    history = reverse("admin:django_idp_logout_backchannelcircuit_history", args=[circuits["portal"].pk])
    assert (
        "Pausiert bis, Fehlschläge in Folge und Pausen in Folge geändert."
        in admin_client.get(history).content.decode()
    )
