"""Users signed in before the app was installed keep working, with every session engine.

Their Django session was written by ``django.contrib.auth.login`` alone (no ``UserSession``, no sid):
it gets a ``UserSession`` on its next request, keeps it, and its next logout ends it like any other.
"""

from importlib import import_module

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.test import Client
from django.urls import reverse

from django_idp_logout.browser import SID_SESSION_KEY
from django_idp_logout.models import EndReason, UserSession
from tests.test_adoption_unbound import make_unbound, unbound

pytestmark = pytest.mark.django_db

ENGINES = ["db", "cache", "cached_db", "file", "signed_cookies"]


@pytest.fixture(params=ENGINES)
def engine(request, settings, tmp_path):
    settings.SESSION_ENGINE = f"django.contrib.sessions.backends.{request.param}"
    settings.SESSION_FILE_PATH = str(tmp_path)
    return request.param


def session_store(session_key=None):
    return import_module(django_settings.SESSION_ENGINE).SessionStore(session_key)


def browser_signed_in_before_the_app(user) -> Client:
    """A browser holding the session Django's login() wrote before the app was installed."""
    store = session_store()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    browser = Client()
    browser.cookies[django_settings.SESSION_COOKIE_NAME] = store.session_key
    return browser


def stored_session(browser):
    return session_store(browser.cookies[django_settings.SESSION_COOKIE_NAME].value).load()


def test_a_session_from_before_the_app_gets_a_user_session_on_its_next_request(user, engine):
    browser = browser_signed_in_before_the_app(user)
    assert SID_SESSION_KEY not in stored_session(browser)
    assert not UserSession.objects.exists()

    response = browser.get("/")
    assert response.context["user"] == user  # still signed in
    user_session = UserSession.objects.get()
    assert user_session.user == user and user_session.ended_at is None
    assert stored_session(browser)[SID_SESSION_KEY] == user_session.sid  # written back, whatever the engine

    assert browser.get("/").context["user"] == user
    assert UserSession.objects.count() == 1  # the same one on every later request


def test_its_next_logout_ends_it_and_revokes_like_any_other(user, application, engine, settings):
    settings.IDP_LOGOUT = {}  # default: coordinated (DOT's OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS)
    make_unbound(user, application, 2)  # what this user's clients got before the app
    browser = browser_signed_in_before_the_app(user)
    browser.get("/")
    user_session = UserSession.objects.get()

    prompt = browser.get(reverse("idp_logout:logout"))
    assert b'id="logout-confirm"' in prompt.content
    browser.post(reverse("idp_logout:logout"), {"confirm": "yes"})

    user_session.refresh_from_db()
    assert user_session.end_reason == EndReason.USER_LOGOUT and user_session.ended_at is not None
    assert not browser.get("/").context["user"].is_authenticated
    assert unbound(application) == (0, 0, 0)


def test_ended_from_the_admin_it_is_dead_on_its_next_request(user, engine):
    from django_idp_logout import api

    browser = browser_signed_in_before_the_app(user)
    browser.get("/")
    api.end_sessions(api.query_sessions(user=user))
    assert not browser.get("/").context["user"].is_authenticated
