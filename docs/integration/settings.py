# At the end of settings.py. startproject's settings do not import os.
import os

INSTALLED_APPS += ["oauth2_provider", "django_idp_logout"]
MIDDLEWARE += ["django_idp_logout.middleware.UserSessionMiddleware"]  # after AuthenticationMiddleware

OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": os.environ["OIDC_RSA_PRIVATE_KEY"],
    "OIDC_ISS_ENDPOINT": os.environ["OIDC_ISS_ENDPOINT"],
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    "SCOPES": {"openid": "OpenID Connect", "profile": "Your profile", "email": "Your e-mail address"},
    # Ready-made classes; if you already subclass DOT's, add the mixins to your bases instead:
    # IdpLogoutValidatorMixin (django_idp_logout.oauth.validator), IdpLogoutBackendMixin (.backend).
    "OAUTH2_VALIDATOR_CLASS": "django_idp_logout.oauth.validator.IdpLogoutOAuth2Validator",
    "OAUTH2_BACKEND_CLASS": "django_idp_logout.oauth.backend.IdpLogoutOAuthLibCore",
}
IDP_LOGOUT = {"COORDINATE_LIFETIME_WITH_USER_SESSION": True}  # every key has a default: docs/settings.md
