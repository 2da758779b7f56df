"""Property-based tests of the endpoints the upstream provider calls (we are its relying party):
back-channel logout tokens and front-channel ``iss``/``sid``.

The upstream is a fake OP on a real local HTTP server (its JWKS); one of our sessions came from it,
so every example can show that bad input ended nothing and recorded no ``jti``.
"""

from __future__ import annotations

import time
import uuid

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz import strategies as hs
from tests.fuzz.oracles import check_request, state_snapshot
from tests.test_upstream_logout import EVENT, corp, corp_login, logout_token, upstream_key  # noqa: F401

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

TOKEN_HEADER = ["alg", "kid", "typ", "crit", "b64"]
TOKEN_CLAIMS = ["iss", "aud", "iat", "exp", "nbf", "jti", "events", "sub", "sid", "nonce"]


@pytest.fixture
def upstream_session(corp, user):
    return corp_login(user, corp)


def signed_with_hostile_claims(op, extra: dict) -> str:
    """Signed with the upstream's real key: only a key holder can send these, yet the answer must be a 400."""
    now = int(time.time())
    base = {"iss": op.issuer, "aud": "idp-at-corp", "iat": now, "exp": now + 120, "jti": str(uuid.uuid4())}
    base["events"] = {EVENT: {}}
    return logout_token(op, **{**base, **extra})


@given(data=st.data())
def test_backchannel(corp, upstream_session, data):
    token = data.draw(
        st.one_of(
            hs.tokens(header_names=TOKEN_HEADER, claim_names=TOKEN_CLAIMS),
            hs.claims(["jti", "sub", "sid", "events", "nonce", "aud"]).map(
                lambda extra: signed_with_hostile_claims(corp, extra)
            ),
        )
    )
    body = f"logout_token={hs.encoded(token)}"
    check_request(
        lambda: Client().post(
            reverse("idp_logout:upstream_backchannel_logout"),
            data=body,
            content_type="application/x-www-form-urlencoded",
        )
    )


@given(body=hs.backchannel_bodies)
def test_backchannel_odd_bodies(corp, upstream_session, body):
    content_type, data = body
    check_request(
        lambda: Client().generic(
            "POST", reverse("idp_logout:upstream_backchannel_logout"), data=data, content_type=content_type
        )
    )


@given(data=st.data())
def test_frontchannel(corp, upstream_session, data):
    query = data.draw(hs.frontchannel_queries(corp.issuer))
    check_request(lambda: Client().get(f"{reverse('idp_logout:upstream_frontchannel_logout')}?{query}"))


# The reproducers of issue #12.


def test_frontchannel_sid_with_nul_is_a_400(corp, upstream_session):
    before = state_snapshot()
    response = Client().get(
        reverse("idp_logout:upstream_frontchannel_logout"), {"iss": corp.issuer, "sid": "\x00"}
    )
    assert response.status_code == 400
    assert state_snapshot() == before


@pytest.mark.parametrize("claim", ["jti", "sub", "sid"])
@pytest.mark.parametrize("value", ["\ud800", "a\x00b"])
def test_signed_logout_token_with_a_malformed_claim_is_a_400(corp, upstream_session, claim, value):
    before = state_snapshot()
    token = signed_with_hostile_claims(corp, {"sub": "corp-alice", "sid": "corp-sid-1", claim: value})
    response = Client().post(reverse("idp_logout:upstream_backchannel_logout"), {"logout_token": token})
    assert response.status_code == 400
    assert state_snapshot() == before
