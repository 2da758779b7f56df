"""Front-channel logout (OIDC Front-Channel Logout 1.0): iframes on the logged-out page, CSP, URIs."""

from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from django_idp_logout.models import ClientLogoutSettings
from tests.conftest import ISSUER, POST_LOGOUT_URI, end_session_url

pytestmark = pytest.mark.django_db


def logged_out_page(client, **end_session_params):
    """Confirm a logout started at the end session endpoint; return the logged-out page response."""
    start = client.get(end_session_url(**end_session_params))
    logout_id = parse_qs(urlsplit(start["Location"]).query)["logout_id"][0]
    response = client.post(reverse("idp_logout:logout"), {"logout_id": logout_id, "confirm": "yes"})
    return client.get(response["Location"])


def iframe_srcs(response) -> list[str]:
    import re
    from html import unescape

    return [
        unescape(src)
        for src in re.findall(r'<iframe class="frontchannel-logout" src="([^"]+)"', response.content.decode())
    ]


def test_logged_out_page_frames_each_client_with_iss_and_sid(
    client, user, application_factory, logout_settings_factory, oidc_login
):
    first, second, silent = application_factory(), application_factory(), application_factory()
    logout_settings_factory(first, frontchannel_logout_uri="https://one.example.com/fc")
    logout_settings_factory(second, frontchannel_logout_uri="https://two.example.com/logout?tenant=7")
    for app in (first, second, silent):
        oidc_login(user, app)
    sid = client.session["_idp_logout_sid"]
    page = logged_out_page(
        client, client_id=first.client_id, post_logout_redirect_uri=POST_LOGOUT_URI, state="s1"
    )
    assert page.status_code == HTTPStatus.OK
    srcs = iframe_srcs(page)
    assert len(srcs) == 2
    one = urlsplit(srcs[0])
    assert (one.scheme, one.netloc, one.path) == ("https", "one.example.com", "/fc")
    assert parse_qs(one.query) == {"iss": [ISSUER], "sid": [sid]}
    two = urlsplit(srcs[1])
    assert parse_qs(two.query) == {"tenant": ["7"], "iss": [ISSUER], "sid": [sid]}
    assert page["Content-Security-Policy"] == "frame-src https://one.example.com https://two.example.com"
    assert "no-store" in page["Cache-Control"]
    # then back to the client, with its state, after the frames (script) or via the link
    assert b'"url": "https://rp.example.com/signed-out?state=s1"' in page.content
    assert b'href="https://rp.example.com/signed-out?state=s1"' in page.content


def test_session_not_required_adds_neither_iss_nor_sid(
    client, user, application, logout_settings_factory, oidc_login
):
    logout_settings_factory(
        application,
        frontchannel_logout_uri="https://rp.example.com/fc",
        frontchannel_logout_session_required=False,
    )
    oidc_login(user, application)
    page = logged_out_page(client)
    assert iframe_srcs(page) == ["https://rp.example.com/fc"]


def test_clients_of_other_sessions_are_not_framed(
    client, user, application_factory, logout_settings_factory, oidc_login
):
    from django.test import Client

    mine, theirs = application_factory(), application_factory()
    logout_settings_factory(mine, frontchannel_logout_uri="https://mine.example.com/fc")
    logout_settings_factory(theirs, frontchannel_logout_uri="https://theirs.example.com/fc")
    oidc_login(user, mine)
    oidc_login(user, theirs, browser=Client())
    srcs = iframe_srcs(logged_out_page(client))
    assert [urlsplit(s).netloc for s in srcs] == ["mine.example.com"]


def test_without_frontchannel_clients_the_redirect_is_a_plain_302(client, user, application, oidc_login):
    tokens = oidc_login(user, application)
    start = client.get(
        end_session_url(id_token_hint=tokens["id_token"], post_logout_redirect_uri=POST_LOGOUT_URI)
    )
    response = client.get(client.get(start["Location"])["Location"])
    assert response.status_code == HTTPStatus.FOUND and response["Location"] == POST_LOGOUT_URI


def test_logout_context_lists_frontchannel_urls(
    rf, client, user, application, logout_settings_factory, oidc_login
):
    from django_idp_logout.api import get_logout_context

    logout_settings_factory(application, frontchannel_logout_uri="https://rp.example.com/fc")
    oidc_login(user, application)
    request = rf.get("/")
    request.user, request.session = user, client.session
    context = get_logout_context(request, None)
    assert context.client_ids == [application.client_id]
    assert context.frontchannel_logout_urls[0].startswith("https://rp.example.com/fc?iss=")


@pytest.mark.parametrize(
    ("uri", "debug", "message"),
    [
        ("https://rp.example.com/fc", False, None),
        ("http://127.0.0.1:8001/fc", False, None),
        ("http://localhost:8001/fc", False, None),
        ("http://rp.example.com/fc", True, None),
        ("http://rp.example.com/fc", False, "Use https"),
        ("https://rp.example.com/fc#frag", False, "fragment"),
        ("/relative/fc", False, "absolute"),
        ("javascript:alert(1)", False, "absolute"),
        ("ftp://rp.example.com/fc", False, "absolute"),
    ],
)
def test_logout_uri_validation(application, settings, uri, debug, message):
    settings.DEBUG = debug
    row = ClientLogoutSettings(
        application=application, frontchannel_logout_uri=uri, backchannel_logout_uri=uri
    )
    if message is None:
        row.full_clean()
        return
    with pytest.raises(ValidationError) as raised:
        row.full_clean()
    assert set(raised.value.message_dict) == {"frontchannel_logout_uri", "backchannel_logout_uri"}
    assert message in raised.value.message_dict["backchannel_logout_uri"][0]


def test_admin_inline_refuses_a_bad_uri_with_a_clear_message(admin_client, application):
    url = reverse(
        f"admin:{application._meta.app_label}_{application._meta.model_name}_change", args=[application.pk]
    )
    page = admin_client.get(url)
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data = {k: ("on" if v is True else v) for k, v in data.items() if v is not False}
    data.update(
        {
            "logout_settings-TOTAL_FORMS": "1",
            "logout_settings-INITIAL_FORMS": "0",
            "logout_settings-MIN_NUM_FORMS": "0",
            "logout_settings-MAX_NUM_FORMS": "1",
            "logout_settings-0-coordinate_lifetime_with_user_session": "",
            "logout_settings-0-frontchannel_logout_uri": "https://rp.example.com/fc#x",
            "logout_settings-0-frontchannel_logout_session_required": "on",
            "logout_settings-0-backchannel_logout_uri": "",
            "logout_settings-0-backchannel_logout_session_required": "on",
            "logout_settings-0-logout_token_typ": "logout+jwt",
        }
    )
    response = admin_client.post(url, data)
    assert response.status_code == HTTPStatus.OK
    assert b"must not have a fragment" in response.content
    assert not ClientLogoutSettings.objects.exists()


def test_confirming_with_an_expired_logout_id_still_frames_the_sessions_clients(
    client, user, application, logout_settings_factory, oidc_login
):
    logout_settings_factory(application, frontchannel_logout_uri="https://rp.example.com/fc")
    oidc_login(user, application)
    response = client.post(
        reverse("idp_logout:logout"), {"logout_id": "expired-or-garbage", "confirm": "yes"}
    )
    page = client.get(response["Location"])
    assert [urlsplit(u).netloc for u in iframe_srcs(page)] == ["rp.example.com"]


@pytest.mark.parametrize("uri", ["https://user:pw@rp.example.com/fc", "https://rp.example.com;x/fc"])
def test_logout_uri_with_credentials_or_separators_in_the_host_is_refused(application, uri):
    row = ClientLogoutSettings(application=application, backchannel_logout_uri=uri)
    with pytest.raises(ValidationError):
        row.full_clean()
