"""Test settings: the example identity provider with in-memory keys and fast hashing.

IDP_DATABASE=postgres or mysql runs the suite on the machine's PostgreSQL or MariaDB/MySQL (see
example_project/settings.py).
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
# The example project names its cookies for the multi-site demo (all sites share 127.0.0.1); the tests
# use Django's defaults.
SESSION_COOKIE_NAME = "sessionid"
CSRF_COOKIE_NAME = "csrftoken"

# Client-site kit (django_idp_logout.rp): installed here so its models migrate and its checks run.
# tests/rp/ configures a whole client site (OP endpoints, URLs, middleware) per test with the settings
# fixture; the values below only keep `manage.py check` quiet. setdefault: an earlier definition wins.
INSTALLED_APPS = [  # noqa: F405
    *INSTALLED_APPS,  # noqa: F405
    *(app for app in ("mozilla_django_oidc", "django_idp_logout.rp") if app not in INSTALLED_APPS),  # noqa: F405
]
MIDDLEWARE = [*MIDDLEWARE, "django_idp_logout.rp.middleware.RPLogoutMiddleware"]  # noqa: F405
for _name, _value in {
    "OIDC_RP_CLIENT_ID": "rp-kit-client",
    "OIDC_RP_SIGN_ALGO": "RS256",
    "OIDC_OP_JWKS_ENDPOINT": "https://op.rp-kit.invalid/jwks",
    "OIDC_STORE_ID_TOKEN": True,
    "IDP_LOGOUT_RP": {"ISSUER": "https://op.rp-kit.invalid"},
}.items():
    globals().setdefault(_name, _value)
# The identity provider's URLconf (example_project.urls) does not mount the kit; tests/rp/ uses its own.
SILENCED_SYSTEM_CHECKS = [*globals().get("SILENCED_SYSTEM_CHECKS", []), "idp_logout_rp.W030"]
