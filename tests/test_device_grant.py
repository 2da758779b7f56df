"""Device authorization grant (RFC 8628): the device's tokens belong to the approving browser's session.

The whole flow runs through DOT's real endpoints (device-authorization, device, device-confirm, token)
on the oauthlib a fresh install resolves; logout goes through the prompt page, and the device's client
is notified over real HTTP on 127.0.0.1.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import reverse
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_device_grant_model,
    get_refresh_token_model,
)

from django_idp_logout.models import SessionToken, UserSession

pytestmark = pytest.mark.django_db

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SYNC = {"BACKCHANNEL_DELIVERY": "sync", "BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES": True}


@pytest.fixture
def device_client(application_factory):
    Application = get_application_model()
    return application_factory(
        name="TV",
        client_id="tv-app",
        authorization_grant_type=Application.GRANT_DEVICE_CODE,
        client_type=Application.CLIENT_PUBLIC,
        redirect_uris="",
    )


def start_device_flow(device_client, scope="openid"):
    response = Client().post(
        reverse("oauth2_provider:device-authorization"),
        urlencode({"client_id": device_client.client_id, "scope": scope}),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200, response.content
    return response.json()


def approve(browser, user_code, action="accept"):
    response = browser.post(reverse("oauth2_provider:device"), {"user_code": user_code})
    assert response.status_code == 302, response.content[:500]
    response = browser.post(response["Location"], {"action": action})
    assert response.status_code == 302, response.content[:500]


def poll(device_client, device_code):
    return Client().post(
        reverse("oauth2_provider:token"),
        {"grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": device_client.client_id},
    )


def refresh(device_client, refresh_token):
    return Client().post(
        reverse("oauth2_provider:token"),
        {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": device_client.client_id},
    )


def sign_in(user):
    browser = Client()
    browser.force_login(user)
    browser.get(reverse("oauth2_provider:device"))  # the browser's UserSession starts on first use
    return browser


def sign_out(browser, capture):
    with capture(execute=True):
        response = browser.post(reverse("idp_logout:logout"), {"confirm": "yes"})
    assert response.status_code == 302


def test_device_flow_issues_tokens_bound_to_the_approving_browser_session(user, device_client):
    browser = sign_in(user)
    codes = start_device_flow(device_client)
    assert poll(device_client, codes["device_code"]).json()["error"] == "authorization_pending"
    approve(browser, codes["user_code"])

    response = poll(device_client, codes["device_code"])
    assert response.status_code == 200, response.content
    tokens = response.json()
    access = get_access_token_model().objects.get(token_checksum=_checksum(tokens["access_token"]))
    assert access.user == user

    user_session = UserSession.objects.get(user=user)
    bound = SessionToken.objects.filter(user_session=user_session, application=device_client)
    assert bound.filter(access_token=access).exists()
    assert bound.filter(refresh_token__isnull=False).exists()
    assert bound.filter(device_grant__isnull=False).exists()
    assert device_client.pk in set(user_session.clients.values_list("pk", flat=True))


def test_ending_the_approving_session_revokes_device_tokens_and_notifies_the_device_client(
    user,
    device_client,
    settings,
    logout_settings_factory,
    backchannel_receiver,
    django_capture_on_commit_callbacks,
):
    settings.IDP_LOGOUT = {**SYNC, "COORDINATE_LIFETIME_WITH_USER_SESSION": True}
    logout_settings_factory(device_client, backchannel_logout_uri=backchannel_receiver.url("/tv-bc"))
    browser = sign_in(user)
    other_browser = sign_in(user)  # a second session of the same user approves another device
    codes, other_codes = start_device_flow(device_client), start_device_flow(device_client)
    approve(browser, codes["user_code"])
    approve(other_browser, other_codes["user_code"])
    tokens = poll(device_client, codes["device_code"]).json()
    other_tokens = poll(device_client, other_codes["device_code"]).json()

    sign_out(browser, django_capture_on_commit_callbacks)

    AccessToken, RefreshToken = get_access_token_model(), get_refresh_token_model()
    assert not AccessToken.objects.filter(token_checksum=_checksum(tokens["access_token"])).exists()
    assert RefreshToken.objects.get(token_checksum=_checksum(tokens["refresh_token"])).revoked is not None
    assert refresh(device_client, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    # The device approved in the other session keeps working.
    assert AccessToken.objects.filter(token_checksum=_checksum(other_tokens["access_token"])).exists()
    assert refresh(device_client, other_tokens["refresh_token"]).status_code == 200

    (post,) = backchannel_receiver.posts_to("/tv-bc")
    assert "logout_token" in post.form


def test_a_device_polling_after_the_session_ended_gets_no_tokens(
    user, device_client, settings, django_capture_on_commit_callbacks
):
    settings.IDP_LOGOUT = {**SYNC, "COORDINATE_LIFETIME_WITH_USER_SESSION": True}
    browser = sign_in(user)
    codes = start_device_flow(device_client)
    approve(browser, codes["user_code"])
    sign_out(browser, django_capture_on_commit_callbacks)

    response = poll(device_client, codes["device_code"])
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert not get_access_token_model().objects.filter(application=device_client).exists()


def test_a_non_coordinated_device_client_keeps_its_tokens(
    user, device_client, settings, logout_settings_factory, django_capture_on_commit_callbacks
):
    settings.IDP_LOGOUT = {**SYNC, "COORDINATE_LIFETIME_WITH_USER_SESSION": True}
    logout_settings_factory(device_client, coordinate_lifetime_with_user_session=False)
    browser = sign_in(user)
    codes = start_device_flow(device_client)
    approve(browser, codes["user_code"])
    tokens = poll(device_client, codes["device_code"]).json()
    sign_out(browser, django_capture_on_commit_callbacks)
    assert refresh(device_client, tokens["refresh_token"]).status_code == 200


def test_a_denied_device_is_bound_to_nothing(user, device_client):
    browser = sign_in(user)
    codes = start_device_flow(device_client)
    approve(browser, codes["user_code"], action="deny")
    assert poll(device_client, codes["device_code"]).json()["error"] == "access_denied"
    assert not SessionToken.objects.exists()


def test_a_device_code_of_another_client_binds_nothing(user, device_client, application_factory):
    """The binding is looked up by device code AND client: another client cannot borrow a session."""
    Application = get_application_model()
    intruder = application_factory(
        client_id="intruder",
        authorization_grant_type=Application.GRANT_DEVICE_CODE,
        client_type=Application.CLIENT_PUBLIC,
        redirect_uris="",
    )
    browser = sign_in(user)
    codes = start_device_flow(device_client)
    approve(browser, codes["user_code"])
    poll(intruder, codes["device_code"])
    assert not SessionToken.objects.filter(application=intruder).exists()


def _checksum(token: str) -> str:
    import hashlib

    return hashlib.sha256(token.encode()).hexdigest()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("", "application/x-www-form-urlencoded"),
        ("client_id=tv-app", "text/plain"),
        (None, None),
        ("client_id=tv-app%00", "application/x-www-form-urlencoded"),
        ("client_id=tv-app&client_id=other", "application/x-www-form-urlencoded"),
    ],
)
def test_a_malformed_device_authorization_request_is_a_400(device_client, body, content_type):
    kwargs = {} if body is None else {"data": body, "content_type": content_type}
    response = Client().post(reverse("oauth2_provider:device-authorization"), **kwargs)
    assert response.status_code in (400, 401) and "error" in response.json()
    assert not get_device_grant_model().objects.exists()


@pytest.mark.parametrize("device_code", [None, "", "abc\x00", "x" * 5000])
def test_a_malformed_device_poll_is_a_400(device_client, device_code):
    data = {"grant_type": DEVICE_GRANT, "client_id": device_client.client_id}
    if device_code is not None:
        data["device_code"] = device_code
    response = Client().post(reverse("oauth2_provider:token"), data)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
