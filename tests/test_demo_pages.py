"""Pages that say what happened, outside the logged-out page: the cancelled prompt leads somewhere, the
example project's login page shares the logout pages' base and names the site, and /favicon.ico is not
a 404."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.urls import reverse

from django_idp_logout.views import LogoutView
from tests.conftest import POST_LOGOUT_URI, end_session_url

pytestmark = pytest.mark.django_db


def cancel(client, application):
    start = client.get(
        end_session_url(client_id=application.client_id, post_logout_redirect_uri=POST_LOGOUT_URI)
    )
    logout_id = start["Location"].split("logout_id=")[1]
    return client.post(reverse("idp_logout:logout"), {"logout_id": logout_id, "cancel": "no"})


def test_cancelled_page_continues_to_the_site_and_offers_to_sign_out_after_all(client, user, application):
    client.force_login(user)
    page = cancel(client, application)
    html = page.content.decode()
    assert page.status_code == HTTPStatus.OK
    assert 'id="logout-cancelled-continue" href="/"' in html  # LOGIN_REDIRECT_URL
    assert f'id="logout-cancelled-sign-out" href="{reverse("idp_logout:logout")}"' in html
    assert "rp.example.com" not in html  # never the client's redirect: "No" does not go back there


def test_cancelled_page_continue_url_can_be_set(client, user, application, settings, monkeypatch):
    settings.LOGIN_REDIRECT_URL = "/elsewhere/"
    client.force_login(user)
    assert 'href="/elsewhere/"' in cancel(client, application).content.decode()
    monkeypatch.setattr(LogoutView, "cancelled_continue_url", "admin:index")
    assert f'href="{reverse("admin:index")}"' in cancel(client, application).content.decode()


def test_login_page_uses_the_base_template_and_names_the_site(client):
    page = client.get(reverse("login"))
    assert page.status_code == HTTPStatus.OK
    assert "django_idp_logout/base.html" in [t.name for t in page.templates]
    html = page.content.decode()
    assert "<title>Sign in · Example identity provider</title>" in html
    assert 'id="site-name">Example identity provider<' in html
    assert 'id="login-submit"' in html and 'name="username"' in html and 'name="password"' in html
    assert '<meta name="referrer" content="same-origin">' in html  # keeps Origin on the CSRF-checked POST


def test_login_errors_are_shown(client, user):
    page = client.post(reverse("login"), {"username": "alice", "password": "wrong"})
    assert page.status_code == HTTPStatus.OK
    assert 'class="errors"' in page.content.decode()


def test_favicon_is_not_a_404(client):
    response = client.get("/favicon.ico")
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "image/svg+xml"
    assert response.content.startswith(b"<svg")
