"""Front-channel logout receiver (OpenID Connect Front-Channel Logout 1.0, section 2)."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.test import Client
from django.urls import reverse

from django_idp_logout.rp.models import RPSession
from tests.rp.conftest import signed_in_as


def frontchannel(browser=None, **params):
    return (browser or Client()).get(reverse("idp_logout_rp:frontchannel_logout"), params)


def test_iss_and_sid_end_the_session(session_engine, fake_op, oidc_login):
    browser = oidc_login(sid="op-sid-1")
    other = oidc_login(sid="op-sid-2")

    # The OP's logged-out page loads the URI in an iframe; third-party cookies are usually blocked.
    response = frontchannel(iss=fake_op.issuer, sid="op-sid-1")

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith("text/html")
    assert response["Cache-Control"] == "no-store"
    assert "X-Frame-Options" not in response  # it must load inside the OP's iframe
    assert RPSession.objects.get(sid="op-sid-1").end_reason == "frontchannel_logout"
    assert signed_in_as(browser) is None
    assert signed_in_as(other) is not None


def test_an_iframe_that_carries_the_users_cookie_signs_that_browser_out_at_once(
    session_engine, fake_op, oidc_login
):
    browser = oidc_login(sid="op-sid-1")

    response = frontchannel(browser, iss=fake_op.issuer, sid="op-sid-1")

    assert response.status_code == HTTPStatus.OK
    assert response.cookies["sessionid"].value == ""  # the cookie is cleared in the same response
    assert signed_in_as(browser) is None


def test_an_unknown_sid_is_fine(fake_op, oidc_login):
    browser = oidc_login(sid="op-sid-1")
    assert frontchannel(iss=fake_op.issuer, sid="op-sid-unknown").status_code == HTTPStatus.OK
    assert signed_in_as(browser) is not None


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"iss": "https://evil.example.com", "sid": "op-sid-1"}, id="wrong iss"),
        pytest.param({"sid": "op-sid-1"}, id="no iss"),
        pytest.param({"iss": "ISSUER"}, id="no sid"),
        pytest.param({"iss": "ISSUER", "sid": ""}, id="empty sid"),
        pytest.param({"iss": "ISSUER", "sid": ["op-sid-1", "op-sid-2"]}, id="two sids"),
        pytest.param({"iss": "ISSUER", "sid": "x" * 256}, id="sid too long"),
        pytest.param({}, id="nothing: the cookie alone never signs anyone out"),
    ],
)
def test_bad_requests_are_rejected_and_end_nothing(params, fake_op, oidc_login):
    browser = oidc_login(sid="op-sid-1")
    params = {name: fake_op.issuer if value == "ISSUER" else value for name, value in params.items()}

    response = frontchannel(browser, **params)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response["Cache-Control"] == "no-store"
    assert response.json()["error"] == "invalid_request"
    assert signed_in_as(browser) is not None
    assert not RPSession.objects.filter(ended_at__isnull=False).exists()


def test_only_get_is_allowed(fake_op, oidc_login):
    browser = oidc_login(sid="op-sid-1")
    url = reverse("idp_logout_rp:frontchannel_logout")
    response = Client().post(url, {"iss": fake_op.issuer, "sid": "op-sid-1"})
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert response["Cache-Control"] == "no-store"
    assert signed_in_as(browser) is not None
