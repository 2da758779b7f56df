"""The logged-out page's client list and the JSON status view it polls (``idp_logout:logout_status``):
what each client of the ended session is told, scoped to that one logout, and attacked with bad ids."""

from __future__ import annotations

import re
import time
from http import HTTPStatus
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.core import signing
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from django_idp_logout.models import BackchannelNotification, UserSession
from tests.conftest import end_session_url

pytestmark = pytest.mark.django_db

STATUS = "idp_logout:logout_status"
SYNC = {"BACKCHANNEL_DELIVERY": "sync", "BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES": True}


def sign_out(browser, *, capture=None) -> str:
    """Confirm the logout on the prompt; return the completed id the logged-out page carries."""
    if capture is None:
        response = browser.post(reverse("idp_logout:logout"), {"confirm": "yes"})
    else:
        with capture(execute=True):
            response = browser.post(reverse("idp_logout:logout"), {"confirm": "yes"})
    assert response.status_code == HTTPStatus.FOUND
    location = urlsplit(response["Location"])
    assert location.path == reverse("idp_logout:logged_out")
    return parse_qs(location.query)["id"][0]


def status(browser, completed_id: str):
    return browser.get(f"{reverse(STATUS)}?{urlencode({'id': completed_id})}")


def logged_out(browser, completed_id: str):
    return browser.get(f"{reverse('idp_logout:logged_out')}?{urlencode({'id': completed_id})}")


@pytest.fixture
def three_clients(application_factory, logout_settings_factory, backchannel_receiver):
    """Shop (back-channel, answers 200), Wiki (back- and front-channel, answers 500), Blog (neither)."""
    backchannel_receiver.on("/wiki", statuses=[500])
    shop = application_factory(name="Shop", client_id="shop")
    wiki = application_factory(name="Wiki", client_id="wiki")
    blog = application_factory(name="Blog", client_id="blog")
    logout_settings_factory(shop, backchannel_logout_uri=backchannel_receiver.url("/shop"))
    logout_settings_factory(
        wiki,
        backchannel_logout_uri=backchannel_receiver.url("/wiki"),
        frontchannel_logout_uri="https://wiki.example.com/fc",
    )
    return shop, wiki, blog


def test_page_lists_each_client_by_name_with_its_state(client, user, oidc_login, three_clients, settings):
    settings.IDP_LOGOUT = dict(SYNC)
    for app in three_clients:
        oidc_login(user, app)
    page = logged_out(client, sign_out(client))  # delivery waits for the commit: all pending here
    assert page.status_code == HTTPStatus.OK
    html = page.content.decode()
    items = re.findall(r'<li class="logout-client" data-client-id="([^"]+)">', html)
    assert items == ["blog", "shop", "wiki"]  # by name: Blog, Shop, Wiki
    assert 'data-channel="backchannel" data-state="pending"' in html
    assert 'data-channel="frontchannel" data-state="pending"' in html
    assert 'data-channel="none" data-state="done"' in html
    assert "You are signed out of Blog, Shop and Wiki." in html
    assert 'id="logout-progress" data-state="working"' in html
    # The polling and the iframe are allowed by the page's CSP, and nothing else is added to it.
    assert page["Content-Security-Policy"] == "frame-src https://wiki.example.com; connect-src 'self'"


def test_page_has_no_inline_script(client, user, oidc_login, three_clients, settings):
    settings.IDP_LOGOUT = dict(SYNC)
    for app in three_clients:
        oidc_login(user, app)
    html = logged_out(client, sign_out(client)).content.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
    assert scripts, html
    for attributes, body in scripts:
        # The page's data travels as a JSON block, which a CSP does not treat as script; code is a file.
        assert 'type="application/json"' in attributes or ("src=" in attributes and not body.strip())
    assert re.search(r'<script src="/static/django_idp_logout/logged_out\.js"></script>', html)
    assert " onload=" not in html and " onerror=" not in html


def test_status_view_reports_sent_retrying_and_nothing_else(
    client, user, oidc_login, three_clients, settings, django_capture_on_commit_callbacks
):
    settings.IDP_LOGOUT = dict(SYNC)
    for app in three_clients:
        oidc_login(user, app)
    sid = client.session["_idp_logout_sid"]
    completed_id = sign_out(client, capture=django_capture_on_commit_callbacks)
    response = status(Client(), completed_id)  # the id is the authorisation, not a cookie
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]
    assert response.json() == {
        "clients": [
            {"client_id": "blog", "name": "Blog", "frontchannel": False, "backchannel": None},
            {"client_id": "shop", "name": "Shop", "frontchannel": False, "backchannel": "sent"},
            {"client_id": "wiki", "name": "Wiki", "frontchannel": True, "backchannel": "retrying"},
        ],
        "settled": True,
    }
    assert sid not in response.content.decode() and user.get_username() not in response.content.decode()


def test_pending_notification_is_reported_pending_until_sent(client, user, oidc_login, three_clients):
    shop = three_clients[0]
    oidc_login(user, shop)
    completed_id = sign_out(client)  # on_commit callbacks do not run here: nothing sent yet
    assert status(client, completed_id).json() == {
        "clients": [{"client_id": "shop", "name": "Shop", "frontchannel": False, "backchannel": "pending"}],
        "settled": False,
    }
    BackchannelNotification.objects.update(status="failed", attempts=5)
    assert status(client, completed_id).json()["clients"][0]["backchannel"] == "failed"
    assert status(client, completed_id).json()["settled"] is True


def test_status_is_scoped_to_this_logout(
    client, user, other_user, oidc_login, application_factory, three_clients
):
    shop, wiki, _blog = three_clients
    oidc_login(user, shop)
    elsewhere = Client()  # the same user's other session, with another client: not part of this logout
    oidc_login(user, wiki, browser=elsewhere)
    mallory = Client()
    oidc_login(other_user, wiki, browser=mallory)
    completed_id = sign_out(client)
    sign_out(mallory)  # another user's ended session with its own notification
    clients = status(client, completed_id).json()["clients"]
    assert [c["client_id"] for c in clients] == ["shop"]
    assert UserSession.objects.filter(user=user, ended_at__isnull=True).count() == 1


def test_anonymous_logout_page_is_finished_at_once(client):
    completed_id = sign_out(client)
    page = logged_out(client, completed_id)
    html = page.content.decode()
    assert 'id="logout-progress" data-state="finished"' in html
    assert "<script" not in html and "Content-Security-Policy" not in page
    assert status(client, completed_id).json() == {"clients": [], "settled": True}


def test_page_without_polling_needs_no_connect_src(client, user, oidc_login, application_factory):
    oidc_login(user, application_factory(name="Plain"))
    page = logged_out(client, sign_out(client))
    assert "Content-Security-Policy" not in page  # no iframe, nothing to poll
    assert "You are signed out of Plain." in page.content.decode()


@pytest.mark.parametrize(
    "query",
    [
        "",
        "id=",
        "id=a&id=b",
        "id=%00",
        "id=" + "a" * 20000,
        "id=not-a-signed-value",
        "id=" + "%ED%A0%80",  # a lone surrogate, UTF-8 encoded
        "id=%FF%FE",
        "id[]=x",
    ],
    ids=["missing", "empty", "twice", "nul", "huge", "unsigned", "surrogate", "bad-utf8", "brackets"],
)
def test_bad_ids_are_a_400_json_error(client, query):
    response = client.get(f"{reverse(STATUS)}?{query}")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_request"
    assert "no-store" in response["Cache-Control"]


def test_a_logout_id_is_not_a_completed_id(client, user, application):
    client.force_login(user)
    start = client.get(end_session_url(client_id=application.client_id))
    logout_id = parse_qs(urlsplit(start["Location"]).query)["logout_id"][0]
    assert status(client, logout_id).status_code == HTTPStatus.BAD_REQUEST


def test_a_tampered_or_expired_id_is_refused(client, user, oidc_login, three_clients, settings):
    oidc_login(user, three_clients[0])
    completed_id = sign_out(client)
    tampered = completed_id[:-2] + ("AA" if not completed_id.endswith("AA") else "BB")
    assert status(client, tampered).status_code == HTTPStatus.BAD_REQUEST
    forged = signing.dumps({"session_id": "x", "client_ids": ["shop"]}, salt="another.salt", compress=True)
    assert status(client, forged).status_code == HTTPStatus.BAD_REQUEST
    settings.IDP_LOGOUT = {"LOGOUT_ID_MAX_AGE": 1}
    time.sleep(2.1)
    assert status(client, completed_id).status_code == HTTPStatus.BAD_REQUEST


def test_hostile_client_names_are_escaped(
    client, user, oidc_login, application_factory, backchannel_receiver
):
    name = '<img src=x onerror="alert(1)">&amp;'
    oidc_login(user, application_factory(name=name))
    completed_id = sign_out(client)
    html = logged_out(client, completed_id).content.decode()
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;amp;" in html
    response = status(client, completed_id)
    assert response["Content-Type"] == "application/json"  # never rendered as HTML (and nosniff)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response.json()["clients"][0]["name"] == name


def test_status_view_costs_the_same_for_one_client_and_ten(
    client, user, oidc_login, application_factory, logout_settings_factory
):
    def queries_for(count: int) -> int:
        browser = Client()
        for n in range(count):
            app = application_factory()
            logout_settings_factory(app, backchannel_logout_uri=f"https://rp{n}.example.com/bc")
            oidc_login(user, app, browser=browser)
        completed_id = sign_out(browser)
        with CaptureQueriesContext(connection) as queries:
            assert status(browser, completed_id).status_code == HTTPStatus.OK
        return len(queries)

    assert queries_for(1) == queries_for(10)


def test_only_get_is_allowed(client):
    assert client.post(reverse(STATUS)).status_code == HTTPStatus.METHOD_NOT_ALLOWED
