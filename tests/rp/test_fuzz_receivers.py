"""Property-based tests of the client-site kit's receivers: back-channel logout tokens (also signed
with the OP's real key around hostile claims) and front-channel ``iss``/``sid``.

A real mozilla-django-oidc login makes a live session first, so every example can show that bad input
ended nothing and recorded no ``jti``.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz import strategies as hs
from tests.fuzz.oracles import check_request, state_snapshot

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

TOKEN_HEADER = ["alg", "kid", "typ", "crit", "b64"]
TOKEN_CLAIMS = ["iss", "aud", "iat", "exp", "nbf", "jti", "events", "sub", "sid", "nonce"]


@pytest.fixture
def signed_in(oidc_login):
    return oidc_login()


@given(data=st.data())
def test_backchannel(signed_in, logout_token, data):
    token = data.draw(
        st.one_of(
            hs.tokens(header_names=TOKEN_HEADER, claim_names=TOKEN_CLAIMS),
            hs.claims(["jti", "sub", "sid", "events", "nonce", "aud"]).map(
                lambda extra: logout_token(**extra)
            ),
        )
    )
    body = f"logout_token={hs.encoded(token)}"
    check_request(
        lambda: Client().post(
            reverse("idp_logout_rp:backchannel_logout"),
            data=body,
            content_type="application/x-www-form-urlencoded",
        )
    )


@given(body=hs.backchannel_bodies)
def test_backchannel_odd_bodies(signed_in, body):
    content_type, data = body
    check_request(
        lambda: Client().generic(
            "POST", reverse("idp_logout_rp:backchannel_logout"), data=data, content_type=content_type
        )
    )


@given(data=st.data())
def test_frontchannel(signed_in, fake_op, data):
    query = data.draw(hs.frontchannel_queries(fake_op.issuer))
    check_request(lambda: signed_in.get(f"{reverse('idp_logout_rp:frontchannel_logout')}?{query}"))


# The reproducers of issue #12.


def test_frontchannel_sid_with_nul_is_a_400(signed_in, fake_op):
    before = state_snapshot()
    response = Client().get(
        reverse("idp_logout_rp:frontchannel_logout"), {"iss": fake_op.issuer, "sid": "\x00"}
    )
    assert response.status_code == 400
    assert state_snapshot() == before


@pytest.mark.parametrize("claim", ["jti", "sub", "sid"])
@pytest.mark.parametrize("value", ["\ud800", "a\x00b"])
def test_signed_logout_token_with_a_malformed_claim_is_a_400(
    signed_in, logout_token, op_server, claim, value
):
    before = state_snapshot()
    response = op_server(logout_token(**{claim: value}))
    assert response.status_code == 400
    assert state_snapshot() == before
