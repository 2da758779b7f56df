"""``provider_logout_url``: the RP-initiated logout URL (RP-Initiated Logout 1.0, section 2) that
mozilla-django-oidc's ``OIDCLogoutView`` redirects to."""

from __future__ import annotations

import os
import subprocess
import sys
from http import HTTPStatus
from urllib.parse import parse_qs, quote, urlsplit

from django.test import Client, RequestFactory
from django.urls import reverse, set_script_prefix
from django.utils.module_loading import import_string

from django_idp_logout.rp import provider_logout_url
from django_idp_logout.rp.models import RPSession
from tests.rp.conftest import CLIENT_ID, signed_in_as


def logout(browser):
    return browser.post(reverse("oidc_logout"))


def test_mozilla_logout_redirects_to_the_op_with_hint_redirect_client_and_state(fake_op, oidc_login):
    browser = oidc_login(sid="op-sid-1")

    response = logout(browser)

    assert response.status_code == HTTPStatus.FOUND
    location = response["Location"]
    state = parse_qs(urlsplit(location).query)["state"][0]
    assert location == (
        f"{fake_op.endpoint('end-session')}?client_id={CLIENT_ID}"
        f"&id_token_hint={browser.id_token}"
        f"&post_logout_redirect_uri=http%3A%2F%2Ftestserver%2F"
        f"&state={state}"
    )
    assert len(state) >= 32 and state.replace("-", "").replace("_", "").isalnum()
    # Then mozilla signs the user out locally, and the index row ends with it.
    assert signed_in_as(browser) is None
    assert RPSession.objects.get().end_reason == "local_logout"


def test_state_is_fresh_every_time(oidc_login):
    states = set()
    for _ in range(2):
        browser = oidc_login()
        states.add(parse_qs(urlsplit(logout(browser)["Location"]).query)["state"][0])
    assert len(states) == 2


def test_a_configured_redirect_and_an_endpoint_query_are_kept(settings, fake_op, oidc_login):
    settings.IDP_LOGOUT_RP = {
        **settings.IDP_LOGOUT_RP,
        "END_SESSION_ENDPOINT": "https://op.example.com/logout?tenant=a b&p=B2C_1",
        "POST_LOGOUT_REDIRECT_URI": "https://rp.example.com/signed-out?from=op",
    }
    browser = oidc_login()

    location = logout(browser)["Location"]

    state = parse_qs(urlsplit(location).query)["state"][0]
    assert location == (
        "https://op.example.com/logout?tenant=a+b&p=B2C_1"
        f"&client_id={CLIENT_ID}&id_token_hint={browser.id_token}"
        f"&post_logout_redirect_uri={quote('https://rp.example.com/signed-out?from=op', safe='')}"
        f"&state={state}"
    )


def test_without_a_stored_id_token_there_is_no_hint(settings, oidc_login):
    settings.OIDC_STORE_ID_TOKEN = False
    browser = oidc_login()

    query = parse_qs(urlsplit(logout(browser)["Location"]).query)

    assert sorted(query) == ["client_id", "post_logout_redirect_uri", "state"]
    assert query["client_id"] == [CLIENT_ID]
    assert query["post_logout_redirect_uri"] == ["http://testserver/"]


def test_the_default_redirect_is_the_site_root_under_the_script_prefix(settings):
    settings.ALLOWED_HOSTS = ["rp.example.com"]
    request = RequestFactory().get("/", secure=True, HTTP_HOST="rp.example.com")
    request.session = {}
    set_script_prefix("/shop/")
    try:
        query = parse_qs(urlsplit(provider_logout_url(request)).query)
    finally:
        set_script_prefix("/")
    assert query["post_logout_redirect_uri"] == ["https://rp.example.com/shop/"]


def test_without_an_end_session_endpoint_the_logout_stays_local(settings, oidc_login):
    settings.IDP_LOGOUT_RP = {**settings.IDP_LOGOUT_RP, "END_SESSION_ENDPOINT": None}
    browser = oidc_login()

    response = logout(browser)

    assert response["Location"] == "/whoami/"  # LOGOUT_REDIRECT_URL
    assert signed_in_as(browser) is None


def test_the_dotted_path_mozilla_imports_is_the_builder():
    assert import_string("django_idp_logout.rp.provider_logout_url") is provider_logout_url


def test_importing_the_package_loads_no_models():
    # Settings name the function by dotted path; importing the package must work before setup().
    code = (
        "import sys, django_idp_logout.rp as rp; "
        "assert callable(rp.provider_logout_url); "
        "assert not [m for m in sys.modules if m.startswith('django_idp_logout.rp.')], sys.modules"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_anonymous_logout_does_not_call_the_op(settings):
    response = Client().post(reverse("oidc_logout"))
    assert response["Location"] == "/whoami/"
