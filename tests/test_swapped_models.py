"""The main flows on whichever DOT models the settings name: CI runs this file (with the device,
registration and admin tests) under tests/settings_swapped.py, where every swappable DOT model is a
project's own subclass (tests/swapped/models.py), and under the default settings like every test.

Login and code exchange, refresh, logout with coordination, front- and back-channel, the admin inline
and expiry, each checked on the rows of the models in use.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_device_grant_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
)

from django_idp_logout.models import EndReason, SessionToken, UserSession

pytestmark = pytest.mark.django_db

SWAPPABLE = {
    "APPLICATION": (get_application_model, "oauth2_provider.Application"),
    "ACCESS_TOKEN": (get_access_token_model, "oauth2_provider.AccessToken"),
    "REFRESH_TOKEN": (get_refresh_token_model, "oauth2_provider.RefreshToken"),
    "ID_TOKEN": (get_id_token_model, "oauth2_provider.IDToken"),
    "GRANT": (get_grant_model, "oauth2_provider.Grant"),
    "DEVICE_GRANT": (get_device_grant_model, "oauth2_provider.DeviceGrant"),
}


@pytest.mark.parametrize("name", SWAPPABLE)
def test_the_models_in_use_are_the_ones_the_settings_name(name):
    getter, default = SWAPPABLE[name]
    assert getter()._meta.label == getattr(django_settings, f"OAUTH2_PROVIDER_{name}_MODEL", default)


def test_our_foreign_keys_point_at_the_models_in_use():
    fields = {f.name: f.related_model for f in SessionToken._meta.get_fields() if f.is_relation}
    assert fields["application"] is get_application_model()
    assert fields["access_token"] is get_access_token_model()
    assert fields["refresh_token"] is get_refresh_token_model()
    assert fields["id_token"] is get_id_token_model()
    assert fields["grant"] is get_grant_model()
    assert fields["device_grant"] is get_device_grant_model()


def refresh(client_id, client_secret, refresh_token):
    return Client().post(
        reverse("oauth2_provider:token"),
        {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
            "client_secret": client_secret,
        },
    )


def test_login_refresh_and_coordinated_logout_with_both_channels(
    client,
    user,
    application,
    oidc_login,
    settings,
    logout_settings_factory,
    backchannel_receiver,
    django_capture_on_commit_callbacks,
):
    settings.IDP_LOGOUT = {
        "BACKCHANNEL_DELIVERY": "sync",
        "BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES": True,
        "COORDINATE_LIFETIME_WITH_USER_SESSION": True,
    }
    logout_settings_factory(
        application,
        frontchannel_logout_uri="https://rp.example.com/fc",
        backchannel_logout_uri=backchannel_receiver.url("/bc"),
    )
    tokens = oidc_login(user, application)
    user_session = UserSession.objects.get(user=user)
    bound = SessionToken.objects.filter(user_session=user_session)
    assert bound.filter(access_token__isnull=False).count() == 1
    assert bound.filter(id_token__isnull=False).count() == 1

    rotated = refresh(application.client_id, application.client_secret, tokens["refresh_token"])
    assert rotated.status_code == 200, rotated.content
    rotated = rotated.json()
    assert bound.filter(refresh_token__isnull=False).count() == 2  # across rotation

    response = client.get(
        reverse("idp_logout:end_session"),
        {
            "id_token_hint": rotated["id_token"],
            "post_logout_redirect_uri": "https://rp.example.com/signed-out",
        },
    )
    with django_capture_on_commit_callbacks(execute=True):
        page = client.get(response["Location"], follow=True)
    assert re.search(
        rb'<iframe class="frontchannel-logout" src="https://rp.example.com/fc\?iss=', page.content
    )
    (post,) = backchannel_receiver.posts_to("/bc")
    assert list(post.form) == ["logout_token"]

    assert not get_access_token_model().objects.filter(application=application).exists()
    assert not get_id_token_model().objects.filter(application=application).exists()
    assert (
        not get_refresh_token_model().objects.filter(application=application, revoked__isnull=True).exists()
    )
    assert (
        refresh(application.client_id, application.client_secret, rotated["refresh_token"]).status_code == 400
    )


def test_admin_inline_edits_the_logout_options_of_the_application_in_use(admin_client, application):
    opts = get_application_model()._meta
    page = admin_client.get(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[application.pk])
    )
    assert page.status_code == 200
    assert b"logout_settings-0-backchannel_logout_uri" in page.content


def test_expiry_ends_the_session_and_revokes_its_tokens(client, user, application, oidc_login, settings):
    settings.IDP_LOGOUT = {"COORDINATE_LIFETIME_WITH_USER_SESSION": True, "SESSION_IDLE_TIMEOUT": 600}
    tokens = oidc_login(user, application)
    UserSession.objects.filter(user=user).update(last_activity=timezone.now() - timedelta(seconds=601))
    call_command("idp_logout_expire_sessions")
    assert UserSession.objects.get(user=user).end_reason == EndReason.SESSION_EXPIRATION
    assert (
        refresh(application.client_id, application.client_secret, tokens["refresh_token"]).status_code == 400
    )
    assert not get_access_token_model().objects.filter(user=user).exists()


@pytest.fixture
def admin_client(db):
    admin = get_user_model().objects.create_superuser("root", password="root-password")
    browser = Client()
    browser.force_login(admin)
    return browser
