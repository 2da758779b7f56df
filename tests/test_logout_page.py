"""The logout prompt and the logged-out page: hotlinking, CSRF, logout_id attacks, i18n, templates."""

import time
from http import HTTPStatus
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse

from django_idp_logout.services import context as context_service
from django_idp_logout.services.context import get_logout_context
from tests.conftest import POST_LOGOUT_URI, end_session_url, follow_to_logout_page, is_signed_in

pytestmark = pytest.mark.django_db

LOGOUT = "idp_logout:logout"


def logout_id_from(response) -> str:
    return parse_qs(urlsplit(response["Location"]).query)["logout_id"][0]


def test_get_of_prompt_never_signs_out(client, user):
    client.force_login(user)
    response = client.get(reverse(LOGOUT))
    assert response.status_code == HTTPStatus.OK
    confirm = response.content.decode()
    assert 'id="logout-confirm"' in confirm and "autofocus" in confirm
    assert is_signed_in(client)


def test_hotlinked_client_logout_without_hint_shows_the_prompt(client, user, application):
    client.force_login(user)
    response = follow_to_logout_page(client, client.get(end_session_url(client_id=application.client_id)))
    assert response.status_code == HTTPStatus.OK
    assert b"Example RP asked to sign you out" in response.content
    assert is_signed_in(client)


def test_post_without_csrf_token_is_refused(user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    response = browser.post(reverse(LOGOUT), {"confirm": "yes"})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert is_signed_in(browser)


def test_post_with_csrf_token_signs_out(user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    prompt = browser.get(reverse(LOGOUT))
    token = prompt.cookies["csrftoken"].value
    response = browser.post(reverse(LOGOUT), {"confirm": "yes", "csrfmiddlewaretoken": token})
    assert response.status_code == HTTPStatus.FOUND
    assert not is_signed_in(browser)


def test_no_keeps_the_user_signed_in_and_does_not_redirect(client, user, application):
    client.force_login(user)
    start = client.get(
        end_session_url(client_id=application.client_id, post_logout_redirect_uri=POST_LOGOUT_URI)
    )
    response = client.post(reverse(LOGOUT), {"logout_id": logout_id_from(start), "cancel": "no"})
    assert response.status_code == HTTPStatus.OK
    assert b"You are still signed in" in response.content
    assert b"rp.example.com" not in response.content
    assert is_signed_in(client)


def test_confirmed_client_id_logout_returns_to_client(client, user, application):
    client.force_login(user)
    start = client.get(
        end_session_url(client_id=application.client_id, post_logout_redirect_uri=POST_LOGOUT_URI, state="c")
    )
    response = client.post(reverse(LOGOUT), {"logout_id": logout_id_from(start), "confirm": "yes"})
    response = client.get(response["Location"])
    assert response["Location"] == POST_LOGOUT_URI + "?state=c"
    assert not is_signed_in(client)


def test_anonymous_user_goes_straight_to_logged_out_page(client, application, oidc_login, user):
    tokens = oidc_login(user, application)
    client.logout()
    start = client.get(
        end_session_url(id_token_hint=tokens["id_token"], post_logout_redirect_uri=POST_LOGOUT_URI)
    )
    response = client.get(start["Location"])
    assert response["Location"].startswith(reverse("idp_logout:logged_out"))
    assert client.get(response["Location"])["Location"] == POST_LOGOUT_URI


def test_anonymous_unproven_client_gets_no_redirect(client, application):
    start = client.get(
        end_session_url(client_id=application.client_id, post_logout_redirect_uri=POST_LOGOUT_URI)
    )
    page = client.get(client.get(start["Location"])["Location"])
    assert page.status_code == HTTPStatus.OK
    assert b"You are signed out" in page.content
    assert b"rp.example.com" not in page.content


def test_hint_of_another_user_gives_the_prompt(client, user, other_user, application, oidc_login):
    tokens = oidc_login(other_user, application, browser=Client())
    client.force_login(user)
    response = follow_to_logout_page(
        client,
        client.get(
            end_session_url(id_token_hint=tokens["id_token"], post_logout_redirect_uri=POST_LOGOUT_URI)
        ),
    )
    assert response.status_code == HTTPStatus.OK
    assert b'id="logout-confirm"' in response.content
    assert is_signed_in(client)


def test_show_logout_prompt_off_signs_out_on_get(client, user, settings):
    settings.IDP_LOGOUT = {"SHOW_LOGOUT_PROMPT": False}
    client.force_login(user)
    response = client.get(reverse(LOGOUT))
    assert response.status_code == HTTPStatus.FOUND
    assert not is_signed_in(client)


def test_without_automatic_redirect_the_logged_out_page_links_back(
    client, user, application, oidc_login, settings
):
    settings.IDP_LOGOUT = {"AUTOMATIC_REDIRECT_AFTER_SIGN_OUT": False}
    tokens = oidc_login(user, application)
    start = client.get(
        end_session_url(id_token_hint=tokens["id_token"], post_logout_redirect_uri=POST_LOGOUT_URI, state="z")
    )
    page = client.get(client.get(start["Location"])["Location"])
    assert page.status_code == HTTPStatus.OK
    assert b"Return to Example RP" in page.content
    assert b'href="https://rp.example.com/signed-out?state=z"' in page.content


# --- logout_id attacks ------------------------------------------------------------------------------


def test_tampered_logout_id_is_refused_and_changes_nothing(client, user, application, oidc_login):
    tokens = oidc_login(user, application)
    start = client.get(
        end_session_url(id_token_hint=tokens["id_token"], post_logout_redirect_uri=POST_LOGOUT_URI)
    )
    logout_id = logout_id_from(start)
    tampered = logout_id[:-3] + ("AAA" if not logout_id.endswith("AAA") else "BBB")
    response = client.get(f"{reverse(LOGOUT)}?{urlencode({'logout_id': tampered})}")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert b"invalid or has expired" in response.content
    assert is_signed_in(client)


def test_forged_logout_id_signed_with_another_salt_is_refused(client, user):
    client.force_login(user)
    forged = signing.dumps({"client_proven": True, "subject": str(user.pk)}, salt="something-else")
    response = client.get(f"{reverse(LOGOUT)}?{urlencode({'logout_id': forged})}")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert is_signed_in(client)


def test_expired_logout_id_is_refused(client, user, application, oidc_login, settings, monkeypatch):
    tokens = oidc_login(user, application)
    start = client.get(end_session_url(id_token_hint=tokens["id_token"]))
    real_time = time.time
    monkeypatch.setattr(signing.time, "time", lambda: real_time() + 601)
    response = client.get(start["Location"])
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert is_signed_in(client)


def test_logout_id_of_another_session_of_the_same_user_gives_the_prompt(user, application, oidc_login):
    """A skip-prompt logout_id made in one browser must not silently log out another browser."""
    first, second = Client(), Client()
    tokens = oidc_login(user, application, browser=first)
    start = first.get(
        end_session_url(id_token_hint=tokens["id_token"], post_logout_redirect_uri=POST_LOGOUT_URI)
    )
    second.force_login(user)
    response = second.get(start["Location"])
    assert response.status_code == HTTPStatus.OK
    assert b'id="logout-confirm"' in response.content
    assert is_signed_in(second)


def test_logout_id_made_for_one_user_prompts_another(user, other_user, application, oidc_login):
    attacker, victim = Client(), Client()
    tokens = oidc_login(other_user, application, browser=attacker)
    start = attacker.get(
        end_session_url(id_token_hint=tokens["id_token"], post_logout_redirect_uri=POST_LOGOUT_URI)
    )
    victim.force_login(user)
    response = victim.get(start["Location"])
    assert response.status_code == HTTPStatus.OK
    assert b'id="logout-confirm"' in response.content
    assert is_signed_in(victim)


def test_logout_id_made_while_anonymous_prompts_once_signed_in(client, user, application, oidc_login):
    tokens = oidc_login(user, application, browser=Client())
    start = client.get(end_session_url(id_token_hint=tokens["id_token"]))
    client.force_login(user)
    response = client.get(start["Location"])
    assert response.status_code == HTTPStatus.OK
    assert is_signed_in(client)


def test_unconfirmed_logout_id_cannot_be_replayed_on_the_logged_out_page(client, application):
    start = client.get(
        end_session_url(client_id=application.client_id, post_logout_redirect_uri=POST_LOGOUT_URI)
    )
    response = client.get(f"{reverse('idp_logout:logged_out')}?{urlencode({'id': logout_id_from(start)})}")
    assert response.status_code == HTTPStatus.OK
    assert b"rp.example.com" not in response.content


def test_confirming_with_an_expired_logout_id_still_signs_out_but_trusts_nothing(client, user):
    client.force_login(user)
    response = client.post(reverse(LOGOUT), {"logout_id": "garbage", "confirm": "yes"})
    page = client.get(response["Location"])
    assert not is_signed_in(client)
    assert page.status_code == HTTPStatus.OK


def test_logout_id_writes_nothing_for_anonymous_requests(client, application, django_assert_num_queries):
    with django_assert_num_queries(1):  # the client lookup; no session row, no token row
        response = client.get(end_session_url(client_id=application.client_id))
    assert response.status_code == HTTPStatus.FOUND
    assert "sessionid" not in response.cookies


def test_public_api_returns_the_logout_context(rf, user, application, oidc_login, client):
    tokens = oidc_login(user, application)
    start = client.get(
        end_session_url(
            id_token_hint=tokens["id_token"],
            post_logout_redirect_uri=POST_LOGOUT_URI,
            state="s",
            ui_locales="de",
            logout_hint="alice@example.com",
        )
    )
    request = rf.get("/")
    request.user = user
    request.session = client.session
    ctx = get_logout_context(request, logout_id_from(start))
    assert ctx.client_id == application.client_id
    assert ctx.client_name == "Example RP"
    assert ctx.post_logout_redirect_uri == POST_LOGOUT_URI
    assert ctx.subject == str(user.pk)
    assert ctx.ui_locales == "de" and ctx.logout_hint == "alice@example.com"
    assert ctx.parameters["state"] == "s"
    assert ctx.show_signout_prompt is False
    assert ctx.frontchannel_logout_urls == []


def test_deleted_client_is_forgotten(client, user, application):
    client.force_login(user)
    start = client.get(
        end_session_url(client_id=application.client_id, post_logout_redirect_uri=POST_LOGOUT_URI)
    )
    application.delete()
    response = client.post(reverse(LOGOUT), {"logout_id": logout_id_from(start), "confirm": "yes"})
    page = client.get(response["Location"])
    assert page.status_code == HTTPStatus.OK
    assert b"rp.example.com" not in page.content


# --- Reflected values, languages, templates ---------------------------------------------------------


def test_reflected_values_are_escaped(client, user, application_factory):
    xss = '<img src=x onerror=alert(1)>"'
    app = application_factory(name=xss)
    client.force_login(user)
    start = client.get(
        end_session_url(
            client_id=app.client_id, logout_hint=xss, state=xss, post_logout_redirect_uri=POST_LOGOUT_URI
        )
    )
    prompt = client.get(start["Location"])
    assert xss.encode() not in prompt.content
    assert b"&lt;img src=x onerror=alert(1)&gt;" in prompt.content
    response = client.post(reverse(LOGOUT), {"logout_id": logout_id_from(start), "confirm": "yes"})
    logged_out = client.get(response["Location"])  # automatic redirect back to the client: a 302
    assert logged_out.status_code == HTTPStatus.FOUND
    assert "<" not in logged_out["Location"] and '"' not in logged_out["Location"]  # state is query-encoded


def test_reflected_values_on_logged_out_link_are_escaped(client, user, application_factory, settings):
    settings.IDP_LOGOUT = {"AUTOMATIC_REDIRECT_AFTER_SIGN_OUT": False}
    xss = '"><script>alert(1)</script>'
    app = application_factory(name=xss)
    client.force_login(user)
    start = client.get(
        end_session_url(client_id=app.client_id, state=xss, post_logout_redirect_uri=POST_LOGOUT_URI)
    )
    response = client.post(reverse(LOGOUT), {"logout_id": logout_id_from(start), "confirm": "yes"})
    page = client.get(response["Location"])
    assert b"<script>alert(1)</script>" not in page.content
    assert b"state=%22%3E%3Cscript%3E" in page.content


def test_ui_locales_switches_the_language(client, user, application):
    client.force_login(user)
    start = client.get(end_session_url(client_id=application.client_id, ui_locales="fr-CA de en"))
    prompt = client.get(start["Location"])
    assert "Möchten Sie sich abmelden?".encode() in prompt.content
    assert b'lang="de"' in prompt.content


def test_ui_locales_also_applies_to_the_error_page(client):
    response = client.get(end_session_url(client_id="nobody", ui_locales="de"))
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert b"Diese Abmeldeanfrage kann nicht bearbeitet werden" in response.content


def test_unsupported_ui_locales_fall_back_to_default(client, user):
    client.force_login(user)
    start = client.get(end_session_url(ui_locales="xx-YY"))
    assert b"Do you want to sign out?" in client.get(start["Location"]).content


def test_project_template_override_takes_effect(client, user, settings):
    from pathlib import Path

    settings.TEMPLATES = [
        {
            **settings.TEMPLATES[0],
            "DIRS": [Path(__file__).parent / "templates_override", *settings.TEMPLATES[0]["DIRS"]],
        }
    ]
    client.force_login(user)
    response = client.get(reverse(LOGOUT))
    assert b'id="project-branding"' in response.content
    assert b'id="logout-confirm"' in response.content


def test_salts_differ_between_stages():
    assert context_service.PENDING_SALT != context_service.COMPLETED_SALT
