"""The outbox's claim and report at volume: a claim's cost does not grow with its rows in queries, it reads
only what the tokens need, and the signals still hand receivers a whole ``BackchannelNotification``."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from jwcrypto import jwt

from django_idp_logout import signals
from django_idp_logout.delivery.http import PostResult
from django_idp_logout.delivery.sender import Outcome
from django_idp_logout.models import BackchannelNotification, EndReason, NotificationStatus, UserSession
from django_idp_logout.services.outbox import Outbox
from django_idp_logout.services.subject import subject_for
from tests.test_subject import PerClientSubValidator, use_validator

pytestmark = pytest.mark.django_db


@pytest.fixture
def ended(django_user_model, application_factory, logout_settings_factory):
    """``ended(users, clients)``: one ended session per user, a notification per (session, client)."""

    people = iter(range(1, 10_000))

    def make(users: int, clients: int, **app_fields):
        apps = []
        for _ in range(clients):
            app = application_factory(**app_fields)
            logout_settings_factory(app, backchannel_logout_uri=f"https://{app.client_id}.example.com/bc")
            apps.append(app)
        sessions = []
        for _ in range(users):
            person = django_user_model.objects.create_user(f"user-{next(people)}")
            sessions.append(
                UserSession.objects.create(
                    user=person, ended_at=timezone.now(), end_reason=EndReason.USER_LOGOUT
                )
            )
        BackchannelNotification.objects.bulk_create(
            BackchannelNotification(
                user_session=session,
                application=app,
                uri=app.logout_settings.backchannel_logout_uri,
                reason=EndReason.USER_LOGOUT,
            )
            for session in sessions
            for app in apps
        )
        return apps, sessions

    return make


def claims_of(token: str) -> dict:
    return json.loads(jwt.JWT(jwt=token).token.objects["payload"])


def claim_queries(limit: int) -> tuple[Outbox, list, list[str]]:
    outbox = Outbox()
    with CaptureQueriesContext(connection) as queries:
        messages = outbox.claim(limit)
    return outbox, messages, [q["sql"] for q in queries.captured_queries]


def ok(messages) -> list[Outcome]:
    return [Outcome(message, PostResult(ok=True, status_code=200)) for message in messages]


@pytest.fixture
def no_receivers():
    for signal in (signals.backchannel_logout_delivered, signals.backchannel_logout_failed):
        assert not signal.has_listeners(BackchannelNotification), "a receiver is connected in this run"


@pytest.mark.django_db(transaction=True)  # autocommit, as in the worker: no savepoints
def test_a_claims_queries_do_not_grow_with_its_rows_users_or_clients(ended, settings):
    use_validator(settings, PerClientSubValidator)  # a sub per (user, client): asks the validator
    ended(users=2, clients=1)
    _, few, small = claim_queries(100)
    ended(users=12, clients=3)
    _, many, large = claim_queries(100)
    assert (len(few), len(many)) == (2, 36)
    assert len(large) == len(small)


def test_each_token_carries_the_sub_and_sid_of_its_user_and_client(ended, settings, django_user_model):
    use_validator(settings, PerClientSubValidator)
    apps, sessions = ended(users=3, clients=2)
    _, messages, _ = claim_queries(100)
    by_id = {
        n.pk: n for n in BackchannelNotification.objects.select_related("user_session__user", "application")
    }
    assert len(messages) == 6
    for message in messages:
        notification = by_id[message.notification_id]
        claims = claims_of(message.token)
        assert claims["sub"] == f"{notification.application.client_id}:{notification.user_session.user_id}"
        assert claims["sub"] == subject_for(notification.user_session.user, notification.application)
        assert claims["sid"] == notification.user_session.sid
        assert claims["aud"] == notification.application.client_id
        assert (message.client, message.uri) == (notification.application_id, notification.uri)


def test_without_a_subject_hook_the_users_are_not_read(ended, settings):
    """DOT's own validator has no ``get_subject``: its ``sub`` is the user's pk, known from the row."""
    settings.OAUTH2_PROVIDER = {
        **settings.OAUTH2_PROVIDER,
        "OAUTH2_VALIDATOR_CLASS": "oauth2_provider.oauth2_validators.OAuth2Validator",
    }
    _, sessions = ended(users=3, clients=1)
    _, messages, sql = claim_queries(100)
    user_table = connection.ops.quote_name(sessions[0].user._meta.db_table)
    assert not [q for q in sql if f"FROM {user_table}" in q]
    assert sorted(claims_of(m.token)["sub"] for m in messages) == sorted(str(s.user_id) for s in sessions)


def test_a_report_without_receivers_reads_no_notification_back(ended, no_receivers):
    ended(users=3, clients=2)
    outbox = Outbox()
    messages = outbox.claim(100)
    with CaptureQueriesContext(connection) as queries:
        outbox.report(ok(messages))
    table = connection.ops.quote_name(BackchannelNotification._meta.db_table)
    assert not [q for q in queries.captured_queries if q["sql"].startswith("SELECT") and table in q["sql"]]
    assert BackchannelNotification.objects.filter(status=NotificationStatus.DELIVERED).count() == 6


def test_receivers_get_the_notification_as_recorded_with_its_session_and_client(
    ended, django_assert_num_queries
):
    apps, sessions = ended(users=2, clients=2)
    received = []

    def on_delivered(sender, *, notification, status_code, **kwargs):
        received.append((notification, status_code, notification.application.client_id))
        received.append(notification.user_session.user.get_username())

    signals.backchannel_logout_delivered.connect(on_delivered, weak=False, dispatch_uid="test-outbox-claim")
    try:
        outbox = Outbox()
        messages = outbox.claim(100)
        with django_assert_num_queries(4):  # one UPDATE per status, the read-back, the circuits' UPDATE
            outbox.report(
                [
                    Outcome(m, PostResult(ok=True, status_code=200 if i % 2 else 204))
                    for i, m in enumerate(messages)
                ]
            )
    finally:
        signals.backchannel_logout_delivered.disconnect(dispatch_uid="test-outbox-claim")
    notifications = [entry for entry in received if isinstance(entry, tuple)]
    assert len(notifications) == 4
    for notification, status_code, client_id in notifications:
        assert isinstance(notification, BackchannelNotification)
        assert notification.status == NotificationStatus.DELIVERED and notification.delivered_at
        assert notification.last_status_code == status_code and notification.attempts == 1
        assert client_id in {app.client_id for app in apps}
    assert {m.notification_id for m in messages} == {n.pk for n, _, _ in notifications}


def test_an_unsignable_client_fails_for_good_and_the_receivers_hear_of_it(ended):
    # HS256 signs with the client secret; a hashed secret cannot sign (ImproperlyConfigured).
    ended(users=2, clients=1, algorithm="HS256", client_secret="s3cret", hash_client_secret=True)
    failed = []
    signals.backchannel_logout_failed.connect(
        lambda sender, **kwargs: failed.append(kwargs), weak=False, dispatch_uid="test-outbox-claim"
    )
    try:
        assert Outbox().claim(100) == []
    finally:
        signals.backchannel_logout_failed.disconnect(dispatch_uid="test-outbox-claim")
    rows = list(BackchannelNotification.objects.all())
    assert {row.status for row in rows} == {NotificationStatus.FAILED}
    assert all(row.last_error.startswith("cannot sign: ") and not row.claim_token for row in rows)
    assert len(failed) == 2 and all(kw["final"] for kw in failed)
    assert {kw["notification"].pk for kw in failed} == {row.pk for row in rows}
    assert all(kw["notification"].status == NotificationStatus.FAILED for kw in failed)


def test_a_failed_attempt_reaches_the_receivers_as_recorded(ended):
    ended(users=1, clients=1)
    failed = []
    signals.backchannel_logout_failed.connect(
        lambda sender, **kwargs: failed.append(kwargs), weak=False, dispatch_uid="test-outbox-claim"
    )
    try:
        outbox = Outbox()
        (message,) = outbox.claim(100)
        outbox.report([Outcome(message, PostResult(ok=False, status_code=500, error="HTTP 500"))])
    finally:
        signals.backchannel_logout_failed.disconnect(dispatch_uid="test-outbox-claim")
    ((kwargs),) = failed
    notification = kwargs["notification"]
    assert kwargs["final"] is False and kwargs["error"] == "HTTP 500"
    assert notification.pk == message.notification_id
    assert notification.status == NotificationStatus.PENDING and notification.last_status_code == 500
    assert notification.next_attempt_at > timezone.now() and notification.attempts == 1
