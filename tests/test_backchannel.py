"""Back-channel logout (OIDC Back-Channel Logout 1.0 + errata): the token, the delivery, the outbox.

Every test talks to a real HTTP server on 127.0.0.1 (tests/receivers.py); loopback is allowed here by
BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES except in the SSRF tests.
"""

import json
import threading
from datetime import timedelta
from http import HTTPStatus

import pytest
from cryptojwt.key_jar import KeyJar
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from idpyoidc.message.oidc.session import BackChannelLogoutRequest
from jwcrypto import jwt

from django_idp_logout import api, signals
from django_idp_logout.delivery import thread as thread_delivery
from django_idp_logout.models import BackchannelNotification, EndReason, NotificationStatus, UserSession
from django_idp_logout.services.logout_token import BACKCHANNEL_EVENT
from django_idp_logout.services.outbox import deliver_due, send_notification
from tests.conftest import ISSUER

pytestmark = pytest.mark.django_db

SYNC = {"BACKCHANNEL_DELIVERY": "sync", "BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES": True}


def header_and_claims(token: str) -> tuple[dict, dict]:
    parsed = jwt.JWT(jwt=token).token
    return parsed.jose_header, json.loads(parsed.objects["payload"])


def sign_out(browser, capture):
    with capture(execute=True):
        response = browser.post(reverse("idp_logout:logout"), {"confirm": "yes"})
    assert response.status_code == HTTPStatus.FOUND
    return response


@pytest.fixture
def rp(application, logout_settings_factory, backchannel_receiver, settings):
    settings.IDP_LOGOUT = dict(SYNC)
    logout_settings_factory(application, backchannel_logout_uri=backchannel_receiver.url("/bc"))
    return application


def test_token_passes_an_independent_rp_library_and_strict_checks(
    client, user, rp, oidc_login, backchannel_receiver, django_capture_on_commit_callbacks
):
    tokens = oidc_login(user, rp)
    sign_out(client, django_capture_on_commit_callbacks)
    (post,) = backchannel_receiver.posts_to("/bc")
    assert post.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert list(post.form) == ["logout_token"]
    logout_token = post.form["logout_token"][0]

    # idpyoidc, the RP side of the OpenID Foundation's own Python stack, with the algorithm pinned.
    keyjar = KeyJar()
    keyjar.import_jwks(json.loads(Client().get(reverse("oauth2_provider:jwks-info")).content), ISSUER)
    request = BackChannelLogoutRequest().from_urlencoded(post.body.decode())
    assert request.verify(keyjar=keyjar, iss=ISSUER, aud=rp.client_id, allowed_sign_alg="RS256")

    header, claims = header_and_claims(logout_token)
    id_claims = header_and_claims(tokens["id_token"])[1]
    assert header["typ"] == "logout+jwt" and header["alg"] == "RS256" and header["kid"]
    assert claims["iss"] == ISSUER and claims["aud"] == rp.client_id
    assert claims["events"] == {BACKCHANNEL_EVENT: {}}
    assert claims["exp"] - claims["iat"] == 120
    assert "nonce" not in claims
    assert claims["sid"] == id_claims["sid"] and claims["sub"] == id_claims["sub"]
    assert claims["logout_reason"] == "user_logout"
    notification = BackchannelNotification.objects.get()
    assert notification.status == NotificationStatus.DELIVERED and notification.attempts == 1


def test_hs256_client_token_is_signed_with_its_secret(
    client,
    user,
    application_factory,
    logout_settings_factory,
    oidc_login,
    backchannel_receiver,
    settings,
    django_capture_on_commit_callbacks,
):
    settings.IDP_LOGOUT = dict(SYNC)
    app = application_factory(algorithm="HS256")
    logout_settings_factory(app, backchannel_logout_uri=backchannel_receiver.url("/hs"))
    oidc_login(user, app)
    sign_out(client, django_capture_on_commit_callbacks)
    token = backchannel_receiver.posts_to("/hs")[0].form["logout_token"][0]
    from jwcrypto import jwk

    key = jwk.JWK.from_password(app.client_secret)
    verified = jwt.JWT(jwt=token, key=key, algs=["HS256"], check_claims={"aud": app.client_id})
    assert json.loads(verified.claims)["events"] == {BACKCHANNEL_EVENT: {}}


def test_typ_can_be_plain_jwt_for_clients_that_reject_logout_jwt(
    client,
    user,
    rp,
    oidc_login,
    backchannel_receiver,
    logout_settings_factory,
    django_capture_on_commit_callbacks,
):
    logout_settings_factory(rp, logout_token_typ="JWT")
    oidc_login(user, rp)
    sign_out(client, django_capture_on_commit_callbacks)
    header, _ = header_and_claims(backchannel_receiver.received[0].form["logout_token"][0])
    assert header["typ"] == "JWT"


def test_one_post_per_client_of_the_session_coordinated_or_not(
    client,
    user,
    application_factory,
    logout_settings_factory,
    oidc_login,
    backchannel_receiver,
    settings,
    django_capture_on_commit_callbacks,
):
    settings.IDP_LOGOUT = {**SYNC, "COORDINATE_LIFETIME_WITH_USER_SESSION": True}
    coordinated, free, silent, elsewhere = (application_factory() for _ in range(4))
    logout_settings_factory(coordinated, backchannel_logout_uri=backchannel_receiver.url("/a"))
    logout_settings_factory(
        free,
        backchannel_logout_uri=backchannel_receiver.url("/b"),
        coordinate_lifetime_with_user_session=False,
    )
    logout_settings_factory(elsewhere, backchannel_logout_uri=backchannel_receiver.url("/c"))
    for app in (coordinated, free, silent):
        oidc_login(user, app)
    oidc_login(user, coordinated)  # a second authorization of the same client in the same session
    oidc_login(user, elsewhere, browser=Client())  # another session: not ended
    sign_out(client, django_capture_on_commit_callbacks)
    assert sorted(r.path for r in backchannel_receiver.received) == ["/a", "/b"]


@pytest.mark.parametrize("path", ["admin_action", "api", "auth_logout", "expiry"])
def test_every_way_a_session_ends_notifies(
    path,
    user,
    rp,
    oidc_login,
    backchannel_receiver,
    settings,
    admin_client,
    django_capture_on_commit_callbacks,
):
    settings.IDP_LOGOUT = {**SYNC, "SESSION_IDLE_TIMEOUT": 600}
    browser = Client()
    oidc_login(user, rp, browser=browser)
    user_session = UserSession.objects.get(user=user)
    with django_capture_on_commit_callbacks(execute=True):
        if path == "admin_action":
            admin_client.post(
                reverse("admin:django_idp_logout_usersession_changelist"),
                {"action": "end_selected_sessions", "_selected_action": [user_session.pk]},
            )
        elif path == "api":
            api.end_sessions(api.query_sessions(user=user))
        elif path == "auth_logout":
            browser.post(reverse("logout"))
        else:
            UserSession.objects.filter(user=user).update(
                last_activity=timezone.now() - timedelta(seconds=601)
            )
            call_command("idp_logout_expire_sessions")
    (post,) = backchannel_receiver.posts_to("/bc")
    reason = header_and_claims(post.form["logout_token"][0])[1]["logout_reason"]
    expected = {
        "admin_action": "terminated",
        "api": "terminated",
        "auth_logout": "user_logout",
        "expiry": "session_expiration",
    }[path]
    assert reason == expected


def test_expiry_can_skip_back_channel(
    user, rp, oidc_login, backchannel_receiver, settings, django_capture_on_commit_callbacks
):
    settings.IDP_LOGOUT = {
        **SYNC,
        "SESSION_IDLE_TIMEOUT": 600,
        "EXPIRED_SESSIONS_TRIGGER_BACKCHANNEL_LOGOUT": False,
    }
    oidc_login(user, rp, browser=Client())
    UserSession.objects.update(last_activity=timezone.now() - timedelta(seconds=601))
    with django_capture_on_commit_callbacks(execute=True):
        call_command("idp_logout_expire_sessions")
    assert backchannel_receiver.received == []
    assert not BackchannelNotification.objects.exists()


def test_failure_then_retry_with_a_fresh_jti(
    user, rp, oidc_login, backchannel_receiver, django_capture_on_commit_callbacks
):
    backchannel_receiver.on("/bc", statuses=[500, 200])
    failures = []
    signals.backchannel_logout_failed.connect(
        lambda sender, **kw: failures.append(kw), weak=False, dispatch_uid="test-failed"
    )
    try:
        oidc_login(user, rp, browser=Client())
        with django_capture_on_commit_callbacks(execute=True):
            api.end_sessions(api.query_sessions(user=user))
    finally:
        signals.backchannel_logout_failed.disconnect(dispatch_uid="test-failed")
    notification = BackchannelNotification.objects.get()
    assert notification.status == NotificationStatus.PENDING
    assert notification.last_status_code == 500 and "500" in notification.last_error
    assert notification.next_attempt_at > timezone.now()
    assert failures[0]["final"] is False
    assert deliver_due()["due"] == 0  # not due yet: backoff
    BackchannelNotification.objects.update(next_attempt_at=timezone.now())
    call_command("idp_logout_deliver")
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.DELIVERED and notification.attempts == 2
    first, second = (
        header_and_claims(p.form["logout_token"][0])[1] for p in backchannel_receiver.posts_to("/bc")
    )
    assert first["jti"] != second["jti"]


def test_gives_up_after_max_attempts(
    user, rp, oidc_login, backchannel_receiver, settings, django_capture_on_commit_callbacks
):
    settings.IDP_LOGOUT = {**SYNC, "BACKCHANNEL_MAX_ATTEMPTS": 2}
    backchannel_receiver.on("/bc", statuses=[503])
    oidc_login(user, rp, browser=Client())
    with django_capture_on_commit_callbacks(execute=True):
        api.end_sessions(api.query_sessions(user=user))
    BackchannelNotification.objects.update(next_attempt_at=timezone.now())
    deliver_due()
    notification = BackchannelNotification.objects.get()
    assert notification.status == NotificationStatus.FAILED and notification.attempts == 2
    BackchannelNotification.objects.update(next_attempt_at=timezone.now())
    assert deliver_due()["due"] == 0


def test_redirects_are_not_followed(
    user, rp, oidc_login, backchannel_receiver, django_capture_on_commit_callbacks
):
    backchannel_receiver.on("/bc", statuses=[302], location=backchannel_receiver.url("/elsewhere"))
    oidc_login(user, rp, browser=Client())
    with django_capture_on_commit_callbacks(execute=True):
        api.end_sessions(api.query_sessions(user=user))
    assert [r.path for r in backchannel_receiver.received] == ["/bc"]
    assert BackchannelNotification.objects.get().last_status_code == 302


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_private_addresses_are_refused_by_default(
    host,
    user,
    rp,
    oidc_login,
    backchannel_receiver,
    settings,
    logout_settings_factory,
    django_capture_on_commit_callbacks,
):
    settings.IDP_LOGOUT = {"BACKCHANNEL_DELIVERY": "sync"}
    port = backchannel_receiver.server.server_address[1]
    logout_settings_factory(rp, backchannel_logout_uri=f"http://{host}:{port}/bc")
    oidc_login(user, rp, browser=Client())
    with django_capture_on_commit_callbacks(execute=True):
        api.end_sessions(api.query_sessions(user=user))
    assert backchannel_receiver.received == []
    assert "not a public address" in BackchannelNotification.objects.get().last_error


@pytest.mark.parametrize(
    ("address", "forbidden"),
    [
        ("10.0.0.1", True),
        ("172.16.5.4", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),
        ("224.0.0.1", True),
        ("::1", True),
        ("fe80::1", True),
        ("::ffff:127.0.0.1", True),
        ("0.0.0.0", True),
        ("100.64.0.1", True),
        ("8.8.8.8", False),
        ("2001:4860:4860::8888", False),
        ("2002:7f00:1::1", True),  # 6to4 wrapping 127.0.0.1
        ("2002:a9fe:a9fe::1", True),  # 6to4 wrapping 169.254.169.254
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", True),  # Teredo
        ("64:ff9b::808:808", False),  # NAT64 of 8.8.8.8: reachable, public
        ("64:ff9b::7f00:1", True),  # NAT64 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", True),  # NAT64 of 169.254.169.254 (cloud metadata)
        ("64:ff9b::a00:1", True),  # NAT64 of 10.0.0.1
        ("64:ff9b:1::808:808", True),  # RFC 8215 local-use prefix: not the well-known one
        ("192.0.0.8", True),  # IETF protocol assignments: "global" to Python 3.11.7
        ("192.0.0.170", True),
        ("192.88.99.1", True),  # 6to4 relay anycast (deprecated)
        ("64:ff9b::c000:8", True),  # NAT64 of 192.0.0.8
        ("fec0::1", True),  # deprecated site-local
        ("3fff::1", True),  # documentation prefix (RFC 9637)
    ],
)
def test_address_classification(address, forbidden):
    from django_idp_logout.delivery.addresses import address_forbidden

    assert address_forbidden(address) is forbidden


def test_a_dead_process_loses_nothing(
    user, rp, oidc_login, backchannel_receiver, django_capture_on_commit_callbacks
):
    """The session ends and commits, but the process dies before it sends: the command sends later."""
    oidc_login(user, rp, browser=Client())
    with django_capture_on_commit_callbacks(execute=False):  # commit callbacks never run: the "crash"
        api.end_sessions(api.query_sessions(user=user))
    assert backchannel_receiver.received == []
    assert BackchannelNotification.objects.get().status == NotificationStatus.PENDING
    call_command("idp_logout_deliver")
    assert len(backchannel_receiver.posts_to("/bc")) == 1
    assert BackchannelNotification.objects.get().status == NotificationStatus.DELIVERED


def test_a_notification_attempt_is_claimed_once(
    user, rp, oidc_login, backchannel_receiver, django_capture_on_commit_callbacks
):
    oidc_login(user, rp, browser=Client())
    with django_capture_on_commit_callbacks(execute=False):
        api.end_sessions(api.query_sessions(user=user))
    notification_id = BackchannelNotification.objects.get().pk
    assert send_notification(notification_id) is True
    assert send_notification(notification_id) is None  # delivered: nothing to do
    assert len(backchannel_receiver.received) == 1


def test_admin_lists_deliveries_and_retries_now(
    admin_client, user, rp, oidc_login, backchannel_receiver, django_capture_on_commit_callbacks
):
    backchannel_receiver.on("/bc", statuses=[500, 200])
    oidc_login(user, rp, browser=Client())
    with django_capture_on_commit_callbacks(execute=True):
        api.end_sessions(api.query_sessions(user=user))
    changelist = reverse("admin:django_idp_logout_backchannelnotification_changelist")
    page = admin_client.get(changelist, {"status__exact": "pending"})
    assert b"HTTP 500" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            changelist,
            {
                "action": "retry_now",
                "_selected_action": list(BackchannelNotification.objects.values_list("pk", flat=True)),
            },
        )
    assert BackchannelNotification.objects.get().status == NotificationStatus.DELIVERED


@pytest.mark.django_db(transaction=True)
def test_thread_delivery_never_delays_the_logout_response(
    user, application, logout_settings_factory, oidc_login, backchannel_receiver, settings
):
    """The client holds its answer until the test releases it; the logout response comes back first."""
    settings.IDP_LOGOUT = {"BACKCHANNEL_DELIVERY": "thread", "BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES": True}
    release = threading.Event()
    backchannel_receiver.on("/slow", hold=release)
    logout_settings_factory(application, backchannel_logout_uri=backchannel_receiver.url("/slow"))
    browser = Client()
    oidc_login(user, application, browser=browser)
    try:
        response = browser.post(reverse("idp_logout:logout"), {"confirm": "yes"})
        assert response.status_code == HTTPStatus.FOUND
        backchannel_receiver.wait_for(1)
        assert len(backchannel_receiver.received) == 1  # the POST is in flight, unanswered...
        assert (
            BackchannelNotification.objects.get().status == NotificationStatus.PENDING
        )  # ...and logout is done
    finally:
        release.set()
        thread_delivery.wait_idle()
    assert BackchannelNotification.objects.get().status == NotificationStatus.DELIVERED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_delivery_workers_never_send_the_same_attempt_twice(
    user, application_factory, logout_settings_factory, backchannel_receiver, settings
):
    from django.db import connection, connections

    if not connection.features.has_select_for_update_skip_locked:
        pytest.skip("needs SELECT ... FOR UPDATE SKIP LOCKED (CI's PostgreSQL and MariaDB passes)")
    settings.IDP_LOGOUT = dict(SYNC)
    apps = [application_factory() for _ in range(20)]
    for index, app in enumerate(apps):
        logout_settings_factory(app, backchannel_logout_uri=backchannel_receiver.url(f"/rp{index}"))
    user_session = UserSession.objects.create(user=user)
    for app in apps:
        user_session.session_clients.create(application=app)
    api.end_session(user_session=user_session, reason=EndReason.TERMINATED, revoke_tokens=False)
    # (transaction=True: the commit hook already dispatched synchronously; make them due again)
    backchannel_receiver.received.clear()
    BackchannelNotification.objects.update(
        status=NotificationStatus.PENDING, next_attempt_at=timezone.now(), attempts=0
    )
    barrier = threading.Barrier(2)

    def worker():
        try:
            barrier.wait()
            deliver_due(limit=100)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=worker) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    paths = sorted(r.path for r in backchannel_receiver.received)
    assert paths == sorted(f"/rp{i}" for i in range(20))  # each exactly once
    assert set(BackchannelNotification.objects.values_list("attempts", flat=True)) == {1}


def test_discovery_advertises_both_channels(client):
    data = client.get(reverse("oauth2_provider:oidc-connect-discovery-info")).json()
    for key in (
        "frontchannel_logout_supported",
        "frontchannel_logout_session_supported",
        "backchannel_logout_supported",
        "backchannel_logout_session_supported",
    ):
        assert data[key] is True
