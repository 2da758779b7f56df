"""The kit accepts the logout tokens of our own identity provider (the provider side of this package),
signed with DOT's key and published in a JWKS as DOT publishes it (thumbprint as ``kid``).

The kit itself imports nothing of the provider side; only this test brings the two together."""

from __future__ import annotations

from http import HTTPStatus

from jwcrypto import jwk
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.utils import jwk_from_pem

from django_idp_logout.services.logout_token import logout_token_claims, sign_logout_token
from tests.keys import pem
from tests.rp.conftest import CLIENT_ID, signed_in_as


def test_our_providers_logout_tokens_end_the_session(
    settings, fake_op, op_key, oidc_login, op_server, application_factory
):
    op_issuer = oauth2_settings.OIDC_ISS_ENDPOINT
    application = application_factory(client_id=CLIENT_ID)
    dot_key = jwk_from_pem(pem("active"))
    fake_op.keys = [op_key, jwk.JWK(**{**dot_key.export_public(as_dict=True), "kid": dot_key.thumbprint()})]
    settings.IDP_LOGOUT_RP = {**settings.IDP_LOGOUT_RP, "ISSUER": op_issuer}
    browser = oidc_login(issuer=op_issuer, sub="alice-sub", sid="op-sid-1")

    claims = logout_token_claims(
        application=application, sub="alice-sub", sid="op-sid-1", reason="user_logout"
    )
    response = op_server(sign_logout_token(application=application, claims=claims))

    assert response.status_code == HTTPStatus.OK, response.content
    assert signed_in_as(browser) is None
    # A retry of the provider carries a fresh jti; the same token again is a replay.
    assert op_server(sign_logout_token(application=application, claims=claims)).status_code == 400
