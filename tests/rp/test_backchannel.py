"""Back-channel logout receiver (OpenID Connect Back-Channel Logout 1.0, sections 2.5 to 2.8)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from http import HTTPStatus

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from django_idp_logout.rp.models import ReceivedLogoutToken, RPSession
from django_idp_logout.rp.tokens import BACKCHANNEL_EVENT
from tests.rp.conftest import CLIENT_ID, CLIENT_SECRET, session_store, signed_in_as


def assert_no_store(response):
    assert response["Cache-Control"] == "no-store"


def assert_rejected(response, description_part=""):
    assert response.status_code == HTTPStatus.BAD_REQUEST, response.content
    assert_no_store(response)
    body = response.json()
    assert body["error"] == "invalid_request"
    assert description_part in body["error_description"]


def assert_accepted(response):
    assert response.status_code == HTTPStatus.OK, response.content
    assert response.content == b""
    assert_no_store(response)


def test_logout_token_ends_the_session_with_every_engine(session_engine, oidc_login, logout_token, op_server):
    browser = oidc_login(sid="op-sid-1")
    session_key = browser.session.session_key
    old_cookie = browser.cookies["sessionid"].value

    assert_accepted(op_server(logout_token(sid="op-sid-1")))

    row = RPSession.objects.get()
    assert row.ended_at is not None and row.end_reason == "backchannel_logout"
    if session_engine != "signed_cookies":
        # Server-side stores lose the session at once, before the browser comes back.
        assert not session_store().exists(session_key)
    assert signed_in_as(browser) is None
    # Replaying the old cookie does not bring the session back (for signed cookies: the denylist).
    replay = Client()
    replay.cookies["sessionid"] = old_cookie
    assert signed_in_as(replay) is None


def test_only_the_session_named_by_sid_ends(oidc_login, logout_token, op_server):
    laptop = oidc_login(sid="op-sid-laptop")
    phone = oidc_login(sid="op-sid-phone")

    assert_accepted(op_server(logout_token(sid="op-sid-laptop")))

    assert signed_in_as(laptop) is None
    assert signed_in_as(phone) is not None


def test_a_token_with_only_sub_ends_all_sessions_of_that_subject(oidc_login, logout_token, op_server):
    laptop = oidc_login(sid="op-sid-laptop")
    phone = oidc_login(sid="op-sid-phone")
    bob = oidc_login(sub="bob-sub", sid="op-sid-bob", email="bob@example.com")

    assert_accepted(op_server(logout_token(sub="alice-sub", sid=None)))

    assert signed_in_as(laptop) is None
    assert signed_in_as(phone) is None
    assert signed_in_as(bob) is not None


def test_sid_and_sub_must_both_match(oidc_login, logout_token, op_server):
    browser = oidc_login(sid="op-sid-1")

    assert_accepted(op_server(logout_token(sid="op-sid-1", sub="someone-else")))

    assert signed_in_as(browser) is not None


def test_a_valid_token_for_an_unknown_session_is_still_a_success(oidc_login, logout_token, op_server):
    browser = oidc_login(sid="op-sid-1")

    assert_accepted(op_server(logout_token(sid="op-sid-unknown")))

    assert signed_in_as(browser) is not None
    assert ReceivedLogoutToken.objects.count() == 1


def test_a_replayed_token_is_rejected_and_ends_nothing_twice(oidc_login, logout_token, op_server):
    first = oidc_login(sid="op-sid-1")
    token = logout_token(sid="op-sid-1")
    assert_accepted(op_server(token))
    ended_at = RPSession.objects.get().ended_at
    assert signed_in_as(first) is None
    # The same OP session signs in again (same sid), then the old token is replayed.
    second = oidc_login(sid="op-sid-1")

    assert_rejected(op_server(token), "jti")

    assert signed_in_as(second) is not None
    assert RPSession.objects.filter(ended_at=ended_at).count() == 1
    assert RPSession.objects.filter(ended_at__isnull=True).count() == 1


def b64(data) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def tampered_signature(token: str) -> str:
    header, payload, signature = token.split(".")
    flipped = ("A" if signature[10] != "A" else "B").join((signature[:10], signature[11:]))
    return f"{header}.{payload}.{flipped}"


def tampered_payload(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sid"] = "op-sid-1"  # the attacker retargets a token issued for another session
    return f"{header}.{b64(claims)}.{signature}"


def hs256_with_public_key(make, fake_op):
    """The classic confusion: HMAC "signed" with the OP's public key, as if it were a secret."""
    public_pem = fake_op.keys[0].export_to_pem()
    return make(alg="HS256", sign_with_secret=public_pem)


def now() -> int:
    return int(time.time())


INVALID_TOKENS = {
    "tampered signature": lambda make, op, keys: tampered_signature(make()),
    "tampered payload": lambda make, op, keys: tampered_payload(make(sid="op-sid-other")),
    "wrong iss": lambda make, op, keys: make(iss="https://evil.example.com"),
    "iss with a trailing slash": lambda make, op, keys: make(iss=op.issuer + "/"),
    "wrong aud": lambda make, op, keys: make(aud="another-client"),
    "aud list without us": lambda make, op, keys: make(aud=["another-client", "third"]),
    "aud missing": lambda make, op, keys: make(aud=None),
    "expired": lambda make, op, keys: make(iat=now() - 600, exp=now() - 120),
    "exp missing": lambda make, op, keys: make(exp=None),
    "exp not a number": lambda make, op, keys: make(exp="tomorrow"),
    "exp NaN": lambda make, op, keys: make(exp=float("nan")),
    "iat Infinity in the future": lambda make, op, keys: make(iat=float("inf")),
    "exp boolean": lambda make, op, keys: make(exp=True),
    "iat missing": lambda make, op, keys: make(iat=None),
    "iat in the future": lambda make, op, keys: make(iat=now() + 600, exp=now() + 900),
    "nbf in the future": lambda make, op, keys: make(nbf=now() + 600),
    "nonce present": lambda make, op, keys: make(nonce="n-0S6_WzA2Mj"),
    "events missing": lambda make, op, keys: make(events=None),
    "events without the back-channel member": lambda make, op, keys: make(
        events={"http://schemas.openid.net/event/other": {}}
    ),
    "events member not an object": lambda make, op, keys: make(events={BACKCHANNEL_EVENT: "logout"}),
    "events is a list": lambda make, op, keys: make(events=[BACKCHANNEL_EVENT]),
    "jti missing": lambda make, op, keys: make(jti=None),
    "jti empty": lambda make, op, keys: make(jti=""),
    "neither sub nor sid": lambda make, op, keys: make(sub=None, sid=None),
    "sid not a string": lambda make, op, keys: make(sid=12345),
    "alg none": lambda make, op, keys: make(alg="none"),
    "alg none with a signature": lambda make, op, keys: make(alg="none") + "c2lnbmF0dXJl",
    "HS256 with the client secret (not allowed)": lambda make, op, keys: make(
        alg="HS256", sign_with_secret=CLIENT_SECRET.encode()
    ),
    "HS256 with the OP's public key": lambda make, op, keys: hs256_with_public_key(make, op),
    "foreign key using the OP's kid": lambda make, op, keys: make(
        key=keys["foreign"], header={"kid": op.keys[0]["kid"]}
    ),
    "foreign key with its own kid": lambda make, op, keys: make(key=keys["foreign"]),
    "foreign key without kid": lambda make, op, keys: make(key=keys["foreign"], header={"kid": None}),
    "typ JWT": lambda make, op, keys: make(header={"typ": "JWT"}),
    "typ at+jwt": lambda make, op, keys: make(header={"typ": "at+jwt"}),
    "crit header": lambda make, op, keys: make(header={"crit": ["b64"], "b64": True}),
    "header is a list": lambda make, op, keys: f"{b64([1])}.{make().split('.', 1)[1]}",
    "alg is a list": lambda make, op, keys: f"{b64({'alg': ['RS256']})}.{make().split('.', 1)[1]}",
    "kid is not a string": lambda make, op, keys: make(header={"kid": {"k": 1}}),
    "typ is not a string": lambda make, op, keys: make(header={"typ": 7}),
    "header not base64": lambda make, op, keys: f"!!!.{make().split('.', 1)[1]}",
    "not a JWT": lambda make, op, keys: "not-a-jwt",
    "garbage segments": lambda make, op, keys: "a.b.c",
    "JWE (5 segments)": lambda make, op, keys: "a.b.c.d.e",
    "empty": lambda make, op, keys: "",
    "payload is a list": lambda make, op, keys: op.sign(
        ["not", "an", "object"], header={"alg": "RS256", "kid": op.keys[0]["kid"], "typ": "logout+jwt"}
    ),
    "an ID token (no events)": lambda make, op, keys: op.sign(
        {"iss": op.issuer, "aud": CLIENT_ID, "sub": "alice-sub", "sid": "op-sid-1", "iat": now(),
         "exp": now() + 300, "nonce": "n"}
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", INVALID_TOKENS)
def test_invalid_tokens_are_rejected_and_end_nothing(
    case, oidc_login, logout_token, op_server, fake_op, foreign_key
):
    browser = oidc_login(sid="op-sid-1")
    token = INVALID_TOKENS[case](logout_token, fake_op, {"foreign": foreign_key})

    assert_rejected(op_server(token))

    assert signed_in_as(browser) is not None
    assert not RPSession.objects.filter(ended_at__isnull=False).exists()
    assert not ReceivedLogoutToken.objects.exists()


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param(lambda: {"header": {"typ": None}}, id="typ missing"),
        pytest.param(lambda: {"header": {"typ": "application/logout+jwt"}}, id="typ application/logout+jwt"),
        pytest.param(lambda: {"header": {"typ": "Logout+JWT"}}, id="typ in another case"),
        pytest.param(lambda: {"aud": [CLIENT_ID, "another-client"]}, id="aud list with us"),
        pytest.param(
            lambda: {"events": {BACKCHANNEL_EVENT: {"x": 1}, "other": {}}}, id="events with more members"
        ),
        pytest.param(lambda: {"exp": int(time.time()) - 30}, id="expired within the leeway"),
        pytest.param(lambda: {"sub": None}, id="sid only"),
        pytest.param(lambda: {"logout_reason": "user_logout"}, id="extra claims ignored"),
        pytest.param(lambda: {"exp": 10**20}, id="exp beyond the datetime range"),
    ],
)
def test_accepted_variants(overrides, oidc_login, logout_token, op_server):
    browser = oidc_login(sid="op-sid-1")

    assert_accepted(op_server(logout_token(**overrides())))

    assert signed_in_as(browser) is None


def test_typ_jwt_is_accepted_only_when_configured(settings, oidc_login, logout_token, op_server):
    browser = oidc_login(sid="op-sid-1")
    assert_rejected(op_server(logout_token(header={"typ": "JWT"})), "token type")

    settings.IDP_LOGOUT_RP = {**settings.IDP_LOGOUT_RP, "ACCEPTED_TOKEN_TYPES": ["logout+jwt", "JWT"]}
    assert_accepted(op_server(logout_token(header={"typ": "JWT"})))

    assert signed_in_as(browser) is None


def test_only_post_is_allowed(op_server):
    url = reverse("idp_logout_rp:backchannel_logout")
    for response in (Client().get(url), Client().put(url), Client().delete(url)):
        assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
        assert_no_store(response)


@pytest.mark.parametrize(
    "body, content_type",
    [
        pytest.param({}, "application/x-www-form-urlencoded", id="no logout_token"),
        pytest.param(
            "logout_token=a&logout_token=b", "application/x-www-form-urlencoded", id="two logout_tokens"
        ),
        pytest.param('{"logout_token": "x.y.z"}', "application/json", id="JSON body"),
    ],
)
def test_malformed_requests_are_rejected(body, content_type):
    url = reverse("idp_logout_rp:backchannel_logout")
    if isinstance(body, dict):
        response = Client().post(url, body)
    else:
        response = Client().post(url, body, content_type=content_type)
    assert_rejected(response)


def test_the_token_in_the_query_string_is_ignored(logout_token):
    url = reverse("idp_logout_rp:backchannel_logout")
    assert_rejected(Client().post(f"{url}?logout_token={logout_token()}"), "logout_token")


def test_no_csrf_token_is_needed(oidc_login, logout_token):
    browser = oidc_login(sid="op-sid-1")
    op = Client(enforce_csrf_checks=True)
    assert_accepted(op.post(reverse("idp_logout_rp:backchannel_logout"), {"logout_token": logout_token()}))
    assert signed_in_as(browser) is None


def test_the_jwks_is_cached(fake_op, logout_token, op_server):
    for _ in range(3):
        assert_accepted(op_server(logout_token()))
    assert fake_op.jwks_requests == 1


def test_a_rotated_key_is_fetched_once(settings, fake_op, op_key, rotated_key, logout_token, op_server):
    settings.IDP_LOGOUT_RP = {**settings.IDP_LOGOUT_RP, "JWKS_MIN_REFETCH_INTERVAL": 0}
    assert_accepted(op_server(logout_token()))  # primes the cache with the old key
    fake_op.keys = [rotated_key, op_key]

    assert_accepted(op_server(logout_token(key=rotated_key)))
    assert_accepted(op_server(logout_token(key=rotated_key)))

    assert fake_op.jwks_requests == 2


def test_unknown_kids_cannot_make_us_refetch_the_jwks_again_and_again(
    fake_op, foreign_key, logout_token, op_server
):
    assert_accepted(op_server(logout_token()))
    for _ in range(5):
        assert_rejected(op_server(logout_token(key=foreign_key)), "kid")
    assert fake_op.jwks_requests == 1


def test_an_unreachable_jwks_is_a_rejection_not_a_crash(settings, logout_token, op_server):
    settings.OIDC_OP_JWKS_ENDPOINT = "http://127.0.0.1:9/jwks"  # discard port: connection refused
    settings.IDP_LOGOUT_RP = {**settings.IDP_LOGOUT_RP, "JWKS_TIMEOUT": 2}
    assert_rejected(op_server(logout_token()), "JWKS")


def test_ec_keys(settings, fake_op, ec_key, op_key, oidc_login, logout_token, op_server):
    browser = oidc_login(sid="op-sid-1")
    settings.OIDC_RP_SIGN_ALGO = "ES256"
    fake_op.keys = [op_key, ec_key]

    assert_rejected(op_server(logout_token()), "algorithm")  # RS256 is no longer accepted
    assert_accepted(op_server(logout_token(key=ec_key, alg="ES256")))

    assert signed_in_as(browser) is None


def test_hmac_logout_tokens_use_the_client_secret(settings, oidc_login, logout_token, op_server):
    browser = oidc_login(sid="op-sid-1")
    settings.OIDC_RP_SIGN_ALGO = "HS256"

    assert_rejected(
        op_server(logout_token(alg="HS256", sign_with_secret=b"a-guessed-secret-0123456789abcdef"))
    )
    assert_accepted(op_server(logout_token(alg="HS256", sign_with_secret=CLIENT_SECRET.encode())))

    assert signed_in_as(browser) is None


def _index_unrelated_sessions(count: int, user, issuer: str):
    for _ in range(count):
        store = session_store()
        store["_idp_logout_rp_key"] = local_key = uuid.uuid4().hex
        store.create()
        RPSession.objects.create(
            local_key=local_key,
            session_key=store.session_key,
            user=user,
            issuer=issuer,
            sub=f"bystander-{local_key}",
            sid=f"bystander-sid-{local_key}",
        )


def test_a_logout_costs_the_same_queries_with_1_or_50_other_sessions(
    settings, fake_op, oidc_login, logout_token, op_server, django_user_model, django_assert_max_num_queries
):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"
    bystander = django_user_model.objects.create_user("bystander")
    assert_accepted(op_server(logout_token(sid="op-sid-warmup")))  # JWKS fetched and cached
    counts = {}
    for total, sid in ((1, "op-sid-1"), (50, "op-sid-2")):
        browser = oidc_login(sid=sid)
        _index_unrelated_sessions(
            total - RPSession.objects.filter(sub__startswith="bystander").count(), bystander, fake_op.issuer
        )
        token = logout_token(sid=sid)
        with django_assert_max_num_queries(10), CaptureQueriesContext(connection) as queries:
            assert_accepted(op_server(token))
        counts[total] = len(queries)
        # Every statement is an insert or goes through an index: no scan of sessions or index rows.
        for query in queries.captured_queries:
            sql = query["sql"].upper()
            assert "WHERE" in sql or sql.startswith(("INSERT", "SAVEPOINT", "RELEASE")), sql
        assert signed_in_as(browser) is None

    assert counts[1] == counts[50]
    assert RPSession.objects.filter(ended_at__isnull=True).count() == 50


def test_the_validator_takes_an_explicit_issuer_and_audience(fake_op, logout_token):
    from django_idp_logout.rp.tokens import InvalidLogoutToken, validate_logout_token

    token = logout_token(iss="https://upstream.example.com", aud="our-idp")
    with pytest.raises(InvalidLogoutToken):
        validate_logout_token(token)  # ISSUER and OIDC_RP_CLIENT_ID do not match
    claims = validate_logout_token(token, issuer="https://upstream.example.com", audience="our-idp")
    assert (claims.issuer, claims.sid, claims.sub) == (
        "https://upstream.example.com",
        "op-sid-1",
        "alice-sub",
    )
