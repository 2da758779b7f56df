# At the end of settings.py, below your own OAUTH2_PROVIDER. "oauth2_provider" is in INSTALLED_APPS already.
import os

INSTALLED_APPS += ["django_idp_logout"]  # after "oauth2_provider", so our inline joins DOT's admin
MIDDLEWARE += ["django_idp_logout.middleware.UserSessionMiddleware"]  # after AuthenticationMiddleware

OAUTH2_PROVIDER.update(
    {
        "OIDC_ENABLED": True,
        "OIDC_RSA_PRIVATE_KEY": os.environ["OIDC_RSA_PRIVATE_KEY"],
        "OIDC_ISS_ENDPOINT": os.environ["OIDC_ISS_ENDPOINT"],
        "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
        # Your scopes stay; DOT's default is read and write. OpenID Connect needs openid.
        "SCOPES": {**OAUTH2_PROVIDER.get("SCOPES", {"read": "Read", "write": "Write"}), "openid": "OpenID"},
        "OAUTH2_VALIDATOR_CLASS": "django_idp_logout.oauth.validator.IdpLogoutOAuth2Validator",
        "OAUTH2_BACKEND_CLASS": "django_idp_logout.oauth.backend.IdpLogoutOAuthLibCore",
    }
)
IDP_LOGOUT = {"COORDINATE_LIFETIME_WITH_USER_SESSION": True}  # every key has a default: docs/settings.md
