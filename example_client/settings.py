"""Settings of an example client site: mozilla-django-oidc + the client-site kit ``django_idp_logout.rp``.

Environment variables (``scripts/demo`` sets them for each instance):
- CLIENT_ID: the OAuth client id registered at the identity provider (default "shop"; letters, digits,
  "-" and "_"). It also names the instance's cookies and its SQLite file.
- CLIENT_NAME: shown on the pages (default: CLIENT_ID capitalised).
- CLIENT_PORT: the port the site listens on, at 127.0.0.1 (default 8001).
- CLIENT_SECRET: the client secret (default "<CLIENT_ID>-demo-secret", as ``demo_setup`` registers it).
- IDP_URL: the identity provider (default http://127.0.0.1:8000); its issuer is IDP_URL + "/o".
- CLIENT_SQLITE_PATH: the database (default example_client/<CLIENT_ID>.sqlite3, git-ignored).
- CLIENT_LINKS: optional "Name=URL,Name=URL" links shown on the home page (the other demo sites).
- CLIENT_CHECK_SESSION: "1" to poll the identity provider's check_session_iframe (OIDC Session
  Management) on the home page (``example_client/session_check.py``); default off.

All demo sites share the host 127.0.0.1, and browsers keep cookies per host, not per port: every
instance therefore has its own session and CSRF cookie names.
"""

import os
import re
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent

CLIENT_ID = os.environ.get("CLIENT_ID", "shop")
if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", CLIENT_ID):
    raise ValueError(f"CLIENT_ID must be letters, digits, '-' or '_' (it names cookies): {CLIENT_ID!r}")
CLIENT_NAME = os.environ.get("CLIENT_NAME", CLIENT_ID.capitalize())
CLIENT_PORT = int(os.environ.get("CLIENT_PORT", "8001"))
CLIENT_URL = f"http://127.0.0.1:{CLIENT_PORT}"
IDP_URL = os.environ.get("IDP_URL", "http://127.0.0.1:8000").rstrip("/")
CLIENT_LINKS = [
    tuple(part.split("=", 1)) for part in os.environ.get("CLIENT_LINKS", "").split(",") if "=" in part
]

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", f"example-client-{CLIENT_ID}-insecure-secret-key-change-me")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "mozilla_django_oidc",
    "django_idp_logout.rp",
    "example_client",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Signs a browser out on its next request once the identity provider has ended its session.
    "django_idp_logout.rp.middleware.RPLogoutMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_client.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "example_client.session_check.context",
            ]
        },
    }
]
WSGI_APPLICATION = "example_client.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("CLIENT_SQLITE_PATH", str(BASE_DIR / f"{CLIENT_ID}.sqlite3")),
        # Three servers and back-channel requests write at the same time: wait for the lock a while.
        "OPTIONS": {"timeout": 20},
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en"
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"

SESSION_COOKIE_NAME = f"{CLIENT_ID}_sessionid"
CSRF_COOKIE_NAME = f"{CLIENT_ID}_csrftoken"

# mozilla-django-oidc: sign in at the identity provider (authorization code flow, PKCE, RS256).
AUTHENTICATION_BACKENDS = ["example_client.auth.ExampleClientBackend"]
OIDC_RP_CLIENT_ID = CLIENT_ID
OIDC_RP_CLIENT_SECRET = os.environ.get("CLIENT_SECRET", f"{CLIENT_ID}-demo-secret")
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_RP_SCOPES = "openid profile email"
OIDC_OP_AUTHORIZATION_ENDPOINT = f"{IDP_URL}/o/authorize/"
OIDC_OP_TOKEN_ENDPOINT = f"{IDP_URL}/o/token/"
OIDC_OP_USER_ENDPOINT = f"{IDP_URL}/o/userinfo/"
OIDC_OP_JWKS_ENDPOINT = f"{IDP_URL}/o/.well-known/jwks.json"
OIDC_USE_PKCE = True  # the example identity provider requires PKCE
OIDC_STORE_ID_TOKEN = True  # the kit needs it: iss/sub/sid for its index, and the id_token_hint
OIDC_TIMEOUT = 10
LOGIN_URL = "oidc_authentication_init"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"
ALLOW_LOGOUT_GET_METHOD = False

# OpenID Connect Session Management: keep session_state, poll the identity provider's iframe.
CLIENT_CHECK_SESSION = os.environ.get("CLIENT_CHECK_SESSION", "0") == "1"
IDP_CHECK_SESSION_IFRAME = f"{IDP_URL}/check-session/"
OIDC_CALLBACK_CLASS = "example_client.session_check.SessionStateCallbackView"

# The client-site kit: logout receivers, and RP-initiated logout with id_token_hint.
OIDC_OP_LOGOUT_URL_METHOD = "django_idp_logout.rp.provider_logout_url"
IDP_LOGOUT_RP = {
    "ISSUER": f"{IDP_URL}/o",
    "END_SESSION_ENDPOINT": f"{IDP_URL}/end-session/",
    "POST_LOGOUT_REDIRECT_URI": f"{CLIENT_URL}/",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "mozilla_django_oidc": {"handlers": ["console"], "level": "WARNING"},
        "django_idp_logout": {"handlers": ["console"], "level": "INFO"},
    },
}
