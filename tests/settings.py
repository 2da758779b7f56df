"""Test settings: the example identity provider with in-memory keys and fast hashing.

IDP_DATABASE=postgres runs the suite on the machine's PostgreSQL (see example_project/settings.py).
"""

from example_project.settings import *  # noqa: F403
from example_project.settings import OAUTH2_PROVIDER
from tests.keys import pem

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
OAUTH2_PROVIDER = {
    **OAUTH2_PROVIDER,
    "OIDC_RSA_PRIVATE_KEY": pem("active"),
    "OIDC_RSA_PRIVATE_KEYS_INACTIVE": [pem("inactive")],
    "OIDC_ISS_ENDPOINT": "http://testserver/o",
    "ALWAYS_RELOAD_OAUTHLIB_CORE": True,
}
IDP_LOGOUT = {}
