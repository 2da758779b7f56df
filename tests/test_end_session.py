"""The end session endpoint (OpenID Connect RP-Initiated Logout 1.0): certification cases and attacks."""

from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import POST_LOGOUT_URI, end_session_url, follow_to_logout_page, is_signed_in

pytestmark = pytest.mark.django_db


def run_logout(client, **params):
    """End session endpoint -> logout page -> (maybe) logged-out page. Returns the last response."""
    response = follow_to_logout_page(client, client.get(end_session_url(**params)))
    while response.status_code == HTTPStatus.FOUND and response["Location"].startswith("/"):
        response = client.get(response["Location"])
    return response


def confirm_prompt(client, prompt_response):
    assert prompt_response.status_code == HTTPStatus.OK
    assert b'id="logout-confirm"' in prompt_response.content
    logout_id = prompt_response.context["form"]["logout_id"].value()
    response = client.post(reverse("idp_logout:logout"), {"logout_id": logout_id, "confirm": "yes"})
    while response.status_code == HTTPStatus.FOUND and response["Location"].startswith("/"):
        response = client.get(response["Location"])
    return response


# --- Certification: what the OpenID Foundation's RP-initiated logout tests expect ---------------


def test_hint_redirect_and_state_redirects_back_with_exactly_state(client, user, application, oidc_login):
    tokens = oidc_login(user, application)
    response = run_logout(
        client, id_token_hint=tokens["id_token"], post_logout_redirect_uri=POST_LOGOUT_URI, state="st 1&x"
    )
    assert response.status_code == HTTPStatus.FOUND
    target = urlsplit(response["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == POST_LOGOUT_URI
    assert parse_qs(target.query) == {"state": ["st 1&x"]}
    assert not is_signed_in(client)


def test_hint_and_redirect_without_state_adds_nothing(client, user, application, oidc_login):
    tokens = oidc_login(user, application)
    response = run_logout(client, id_token_hint=tokens["id_token"], post_logout_redirect_uri=POST_LOGOUT_URI)
    assert response["Location"] == POST_LOGOUT_URI
    assert not is_signed_in(client)


@pytest.mark.parametrize(
    "bad_uri",
    [
        "https://evil.example.com/signed-out",
        POST_LOGOUT_URI + "?foo=bar",
        POST_LOGOUT_URI + "#frag",
        POST_LOGOUT_URI + "/",
        POST_LOGOUT_URI.upper().replace("HTTPS://", "https://"),
        POST_LOGOUT_URI.replace("https://", "https://user@"),
        "javascript:alert(1)",
    ],
)
def test_unregistered_redirect_gets_error_page_not_redirect(client, user, application, oidc_login, bad_uri):
    tokens = oidc_login(user, application)
    response = client.get(end_session_url(id_token_hint=tokens["id_token"], post_logout_redirect_uri=bad_uri))
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert b"not registered for this client" in response.content
    assert is_signed_in(client)


def test_alg_none_hint_is_refused(client, user, application, id_token_factory):
    client.force_login(user)
    hint = id_token_factory(sub=str(user.pk), alg="none")
    response = client.get(end_session_url(id_token_hint=hint, post_logout_redirect_uri=POST_LOGOUT_URI))
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert is_signed_in(client)


def test_hint_signed_by_foreign_key_is_refused(client, user, application, id_token_factory):
    client.force_login(user)
    hint = id_token_factory(sub=str(user.pk), key_name="foreign")
    response = client.get(end_session_url(id_token_hint=hint, post_logout_redirect_uri=POST_LOGOUT_URI))
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert b"does not verify" in response.content


def test_redirect_and_state_without_hint_or_client_is_refused(client, user, application):
    client.force_login(user)
    response = client.get(end_session_url(post_logout_redirect_uri=POST_LOGOUT_URI, state="s"))
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Location" not in response


def test_redirect_with_client_id_but_no_hint_needs_the_prompt(client, user, application):
    client.force_login(user)
    prompt = run_logout(client, client_id=application.client_id, post_logout_redirect_uri=POST_LOGOUT_URI)
    assert prompt.status_code == HTTPStatus.OK
    assert b'id="logout-confirm"' in prompt.content
    assert is_signed_in(client)


def test_no_parameters_prompts_then_shows_logged_out_page(client, user):
    client.force_login(user)
    prompt = run_logout(client)
    response = confirm_prompt(client, prompt)
    assert response.status_code == HTTPStatus.OK
    assert b"You are signed out" in response.content
    assert not is_signed_in(client)


def test_hint_and_state_without_redirect_logs_out_without_redirect(client, user, application, oidc_login):
    tokens = oidc_login(user, application)
    response = run_logout(client, id_token_hint=tokens["id_token"], state="abc")
    assert response.status_code == HTTPStatus.OK
    assert b"You are signed out" in response.content
    assert b"rp.example.com" not in response.content
    assert not is_signed_in(client)


def test_only_state_prompts_and_never_redirects(client, user):
    client.force_login(user)
    response = confirm_prompt(client, run_logout(client, state="abc"))
    assert response.status_code == HTTPStatus.OK
    assert b"You are signed out" in response.content


def test_discovery_advertises_our_end_session_endpoint(client):
    data = client.get(reverse("oauth2_provider:oidc-connect-discovery-info")).json()
    assert data["end_session_endpoint"] == "http://testserver" + reverse("idp_logout:end_session")
    assert data["issuer"] == "http://testserver/o"


# --- Hints ------------------------------------------------------------------------------------


def test_expired_hint_is_honoured(client, user, application, id_token_factory, oidc_login):
    oidc_login(user, application)  # the client takes part in the session
    hint = id_token_factory(sub=str(user.pk), expired=True, extra={"sid": client.session["_idp_logout_sid"]})
    response = run_logout(client, id_token_hint=hint, post_logout_redirect_uri=POST_LOGOUT_URI, state="s")
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == POST_LOGOUT_URI + "?state=s"
    assert not is_signed_in(client)


def test_hint_signed_with_rotated_out_key_is_honoured(
    client, user, application, id_token_factory, oidc_login
):
    oidc_login(user, application)
    hint = id_token_factory(
        sub=str(user.pk), key_name="inactive", extra={"sid": client.session["_idp_logout_sid"]}
    )
    response = run_logout(client, id_token_hint=hint, post_logout_redirect_uri=POST_LOGOUT_URI)
    assert response["Location"] == POST_LOGOUT_URI


def test_hs256_client_hint_verifies_with_its_secret(
    client, user, application_factory, id_token_factory, oidc_login
):
    app = application_factory(client_id="hs-client", algorithm="HS256")
    oidc_login(user, app)
    hint = id_token_factory(
        aud="hs-client",
        sub=str(user.pk),
        alg="HS256",
        secret=app.client_secret,
        extra={"sid": client.session["_idp_logout_sid"]},
    )
    response = run_logout(client, id_token_hint=hint, post_logout_redirect_uri=POST_LOGOUT_URI)
    assert response["Location"] == POST_LOGOUT_URI


def test_a_client_the_user_never_used_cannot_skip_the_prompt_with_a_forged_hint(
    client, user, application_factory, id_token_factory
):
    """An HS256 client knows its own secret, so it can sign a "valid" hint for any subject; it must
    still not sign out, silently, a user who never used it (found in review)."""
    evil = application_factory(client_id="evil", algorithm="HS256")
    client.force_login(user)
    hint = id_token_factory(aud="evil", sub=str(user.pk), alg="HS256", secret=evil.client_secret)
    response = follow_to_logout_page(client, client.get(end_session_url(id_token_hint=hint)))
    assert response.status_code == HTTPStatus.OK
    assert b'id="logout-confirm"' in response.content
    assert is_signed_in(client)


@pytest.mark.parametrize("token_part", ["header", "payload"])
def test_deeply_nested_json_in_a_hint_is_a_400(client, token_part):
    import base64

    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    nested = b"[" * 5000
    parts = [b64(b'{"alg":"RS256"}'), b64(nested), "AAAA"]
    if token_part == "header":
        parts[0], parts[1] = b64(nested), b64(b'{"aud":"x"}')
    response = client.get(end_session_url(id_token_hint=".".join(parts)))
    assert response.status_code == HTTPStatus.BAD_REQUEST


def test_hs256_hint_with_wrong_secret_is_refused(client, user, application_factory, id_token_factory):
    application_factory(client_id="hs-client", algorithm="HS256")
    hint = id_token_factory(aud="hs-client", alg="HS256", secret="not-the-secret-" + "x" * 40)
    assert client.get(end_session_url(id_token_hint=hint)).status_code == HTTPStatus.BAD_REQUEST


def test_rs256_client_refuses_hs256_hint_signed_with_public_key_material(
    client, application, id_token_factory
):
    """Algorithm confusion: an HS256 token for an RS256 client is refused before any key is tried."""
    hint = id_token_factory(alg="HS256", secret="anything-" + "x" * 40)
    response = client.get(end_session_url(id_token_hint=hint))
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert b"algorithm" in response.content


def test_hint_database_row_is_not_needed(client, user, application, oidc_login):
    from oauth2_provider.models import get_id_token_model

    tokens = oidc_login(user, application)
    get_id_token_model().objects.all().delete()
    response = run_logout(client, id_token_hint=tokens["id_token"], post_logout_redirect_uri=POST_LOGOUT_URI)
    assert response["Location"] == POST_LOGOUT_URI


def test_second_client_logging_out_after_the_first_gets_a_clean_response(
    client, user, application_factory, oidc_login
):
    """DOT bug #1287: after the first RP's logout, the second RP's hint no longer had a DB row -> 400."""
    first, second = application_factory(), application_factory()
    tokens_first = oidc_login(user, first)
    tokens_second = oidc_login(user, second)
    response = run_logout(
        client, id_token_hint=tokens_first["id_token"], post_logout_redirect_uri=POST_LOGOUT_URI
    )
    assert response["Location"] == POST_LOGOUT_URI
    response = run_logout(
        client, id_token_hint=tokens_second["id_token"], post_logout_redirect_uri=POST_LOGOUT_URI, state="2"
    )
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == POST_LOGOUT_URI + "?state=2"


def test_client_id_must_equal_the_hint_audience(client, user, application_factory, oidc_login):
    first, second = application_factory(), application_factory()
    tokens = oidc_login(user, first)
    response = client.get(end_session_url(id_token_hint=tokens["id_token"], client_id=second.client_id))
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert b"does not match the audience" in response.content
    assert is_signed_in(client)


def test_matching_client_id_and_hint_are_accepted(client, user, application, oidc_login):
    tokens = oidc_login(user, application)
    response = run_logout(
        client,
        id_token_hint=tokens["id_token"],
        client_id=application.client_id,
        post_logout_redirect_uri=POST_LOGOUT_URI,
    )
    assert response["Location"] == POST_LOGOUT_URI


def test_unknown_client_id_is_a_400(client, user):
    client.force_login(user)
    response = client.get(
        end_session_url(client_id="no-such-client", post_logout_redirect_uri=POST_LOGOUT_URI)
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert b"registered client" in response.content


@pytest.mark.parametrize(
    "hint_kind",
    [
        "garbage",
        "two_parts",
        "bad_base64",
        "json_array",
        "non_json",
        "no_aud",
        "aud_number",
        "unknown_aud",
        "other_issuer",
        "no_sub",
        "empty_aud_list",
    ],
)
def test_malformed_hints_are_a_400_never_a_500(client, user, application, id_token_factory, hint_kind):
    hints = {
        "garbage": "not a jwt at all",
        "two_parts": "abc.def",
        "bad_base64": "!!!.@@@.###",
        "json_array": id_token_factory(raw_payload=b"[1, 2, 3]"),
        "non_json": id_token_factory(raw_payload=b"\xff\xfe not json"),
        "no_aud": id_token_factory(drop=("aud",)),
        "aud_number": id_token_factory(aud=42),
        "unknown_aud": id_token_factory(aud="nobody"),
        "other_issuer": id_token_factory(iss="https://evil.example.com"),
        "no_sub": id_token_factory(drop=("sub",)),
        "empty_aud_list": id_token_factory(aud=[]),
    }
    client.force_login(user)
    for method in (client.get, client.post):
        if method is client.get:
            response = client.get(end_session_url(id_token_hint=hints[hint_kind]))
        else:
            response = client.post(reverse("idp_logout:end_session"), {"id_token_hint": hints[hint_kind]})
        assert response.status_code == HTTPStatus.BAD_REQUEST
        assert "Location" not in response
    assert is_signed_in(client)


@pytest.mark.parametrize(
    ("name", "length"),
    [
        ("id_token_hint", 8193),
        ("state", 2049),
        ("post_logout_redirect_uri", 2049),
        ("client_id", 256),
        ("logout_hint", 1025),
        ("ui_locales", 257),
    ],
)
def test_oversized_parameters_are_refused(client, name, length):
    response = client.get(end_session_url(**{name: "a" * length}))
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert name.encode() in response.content


def test_control_characters_are_refused(client):
    response = client.get(end_session_url(state="a\r\nSet-Cookie: x=y"))
    assert response.status_code == HTTPStatus.BAD_REQUEST


# --- Transport ----------------------------------------------------------------------------------


def test_cross_site_post_without_csrf_token_is_accepted(user, application, oidc_login):
    """RP-Initiated Logout 1.0 section 2: the OP MUST support POST; an RP's form cannot carry our CSRF token."""
    browser = Client(enforce_csrf_checks=True)
    tokens = oidc_login(user, application, browser=browser)
    response = browser.post(
        reverse("idp_logout:end_session"),
        {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": POST_LOGOUT_URI, "state": "p"},
        HTTP_ORIGIN="https://rp.example.com",
    )
    assert response.status_code == HTTPStatus.FOUND
    response = follow_to_logout_page(browser, response)
    response = browser.get(response["Location"])
    assert response["Location"] == POST_LOGOUT_URI + "?state=p"
    assert not is_signed_in(browser)


def test_end_session_endpoint_itself_never_signs_out(client, user, application, oidc_login):
    tokens = oidc_login(user, application)
    response = client.get(end_session_url(id_token_hint=tokens["id_token"]))
    assert response.status_code == HTTPStatus.FOUND
    assert is_signed_in(client)


def test_unknown_parameters_are_ignored(client, user, application, oidc_login):
    tokens = oidc_login(user, application)
    response = run_logout(
        client, id_token_hint=tokens["id_token"], post_logout_redirect_uri=POST_LOGOUT_URI, foo="bar"
    )
    assert response["Location"] == POST_LOGOUT_URI


def test_error_page_escapes_reflected_values(client):
    payload = '<script>alert("x")</script>'
    response = client.get(end_session_url(client_id=payload))
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert b"<script>alert" not in response.content


def test_error_page_is_not_cached(client):
    response = client.get(end_session_url(client_id="nobody"))
    assert "no-store" in response["Cache-Control"]
