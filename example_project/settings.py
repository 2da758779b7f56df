"""Settings of the example identity provider (DOT + django-idp-logout).

Environment variables:
- IDP_DATABASE: "sqlite" (default), "postgres" (127.0.0.1:5432, database IDP_PG_NAME, user IDP_PG_USER)
  or "mysql" (MySQL/MariaDB on 127.0.0.1:3306, database IDP_MYSQL_NAME, user IDP_MYSQL_USER, default root).
- OIDC_RSA_PRIVATE_KEY: the PEM signing key; else the file named by IDP_OIDC_KEY_FILE
  (default example_project/oidc.key, git-ignored, written by scripts/demo when missing).
- IDP_ISSUER: the issuer (default http://127.0.0.1:8000/o).
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-insecure-secret-key-change-me")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "oauth2_provider",
    "django_idp_logout",
    "example_project.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_idp_logout.middleware.UserSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_project.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "example_project" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
WSGI_APPLICATION = "example_project.wsgi.application"

DATABASE_KIND = os.environ.get("IDP_DATABASE", "sqlite")
if DATABASE_KIND == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": os.environ.get("IDP_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("IDP_PG_PORT", "5432"),
            "NAME": os.environ.get("IDP_PG_NAME", "postgres"),
            "USER": os.environ.get("IDP_PG_USER", "postgres"),
            "PASSWORD": os.environ.get("IDP_PG_PASSWORD", ""),
        }
    }
elif DATABASE_KIND == "mysql":
    # MySQL 8.0.11+ or MariaDB 10.5+ (10.6+ for SKIP LOCKED) with the mysqlclient driver (extra [mysql]).
    # The test database is test_<IDP_MYSQL_NAME>: give each checkout its own name on a shared server.
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.mysql",
            "HOST": os.environ.get("IDP_MYSQL_HOST", "127.0.0.1"),
            "PORT": os.environ.get("IDP_MYSQL_PORT", "3306"),
            "NAME": os.environ.get("IDP_MYSQL_NAME", "idp_logout"),
            "USER": os.environ.get("IDP_MYSQL_USER", "root"),
            "PASSWORD": os.environ.get("IDP_MYSQL_PASSWORD", ""),
            "OPTIONS": {"charset": "utf8mb4"},
        }
    }
elif DATABASE_KIND == "sqlite":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("IDP_SQLITE_PATH", str(BASE_DIR / "example_project" / "db.sqlite3")),
        }
    }
else:
    raise ValueError(f"IDP_DATABASE={DATABASE_KIND!r}: use sqlite, postgres or mysql")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"


def _signing_key() -> str:
    if os.environ.get("OIDC_RSA_PRIVATE_KEY"):
        return os.environ["OIDC_RSA_PRIVATE_KEY"]
    key_file = Path(os.environ.get("IDP_OIDC_KEY_FILE", BASE_DIR / "example_project" / "oidc.key"))
    return key_file.read_text() if key_file.exists() else ""


OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": _signing_key(),
    "OIDC_ISS_ENDPOINT": os.environ.get("IDP_ISSUER", "http://127.0.0.1:8000/o"),
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    "PKCE_REQUIRED": True,
    "SCOPES": {
        "openid": "OpenID Connect",
        "profile": "Your profile",
        "email": "Your e-mail address",
        "sessions": "See and end your sessions",
    },
    "OAUTH2_VALIDATOR_CLASS": "example_project.demo.validator.ExampleValidator",
    "OAUTH2_BACKEND_CLASS": "django_idp_logout.oauth.backend.IdpLogoutOAuthLibCore",
}

SESSION_COOKIE_NAME = os.environ.get("IDP_SESSION_COOKIE_NAME", "idp_sessionid")
CSRF_COOKIE_NAME = os.environ.get("IDP_CSRF_COOKIE_NAME", "idp_csrftoken")

IDP_LOGOUT = {
    "SHOW_LOGOUT_PROMPT": True,
    "AUTOMATIC_REDIRECT_AFTER_SIGN_OUT": True,
    "COORDINATE_LIFETIME_WITH_USER_SESSION": True,
    # The demo's client sites listen on 127.0.0.1: loopback back-channel targets are allowed in DEBUG only.
    "BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES": os.environ.get(
        "IDP_ALLOW_PRIVATE_BACKCHANNEL", "1" if DEBUG else "0"
    )
    == "1",
}
