"""A real upstream identity provider for tests/test_upstream_roundtrip.py.

The upstream ("corp") is this repository's example project in a subprocess (``manage.py runserver`` on
127.0.0.1, a free port), with its own SQLite file, RSA signing key, issuer and cookie names, and OUR
provider (the live server) registered as its confidential client ``idp-at-corp`` with a back-channel
logout URI. Our provider signs users in against it with mozilla-django-oidc over real HTTP.

The upstream's database is a plain SQLite file: the tests read it directly (read-only) to see what the
upstream did (its sessions, its back-channel notifications to us).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto import jwk, jws
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

REPO = Path(__file__).resolve().parent.parent
CLIENT_ID = "idp-at-corp"
USERNAME, PASSWORD = "alice", "alice-password"  # example_project's demo_setup
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
START_TIMEOUT = 30.0

# Run inside the upstream (manage.py shell -c): migrate, the demo users, and our provider as a client.
SETUP_SCRIPT = """
import os
from django.core.management import call_command
from oauth2_provider.models import get_application_model
from django_idp_logout.models import ClientLogoutSettings

call_command("migrate", interactive=False, verbosity=0)
call_command("demo_setup", base_url=os.environ["UPSTREAM_URL"], verbosity=0)
Application = get_application_model()
app, _ = Application.objects.update_or_create(
    client_id=os.environ["CORP_CLIENT_ID"],
    defaults={
        "name": "Our identity provider",
        "client_type": Application.CLIENT_CONFIDENTIAL,
        "client_secret": os.environ["CORP_CLIENT_SECRET"],
        "hash_client_secret": False,
        "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
        "redirect_uris": os.environ["CORP_REDIRECT_URI"],
        "post_logout_redirect_uris": os.environ["CORP_POST_LOGOUT_REDIRECT_URI"],
        "algorithm": Application.RS256_ALGORITHM,
        "skip_authorization": True,
    },
)
ClientLogoutSettings.objects.update_or_create(
    application=app, defaults={"backchannel_logout_uri": os.environ["CORP_BACKCHANNEL_LOGOUT_URI"]}
)
"""


class CorpOIDCBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend for the upstream. DOT's userinfo carries only ``sub`` (no e-mail),
    so users are found and created by a username made from it. Being a subclass, it also proves that
    the app recognises subclasses of mozilla's backend as upstream logins."""

    @staticmethod
    def username_for(sub: str) -> str:
        return f"corp-{sub}"

    def verify_claims(self, claims):
        return isinstance(claims.get("sub"), str) and bool(claims["sub"])

    def filter_users_by_claims(self, claims):
        return self.UserModel.objects.filter(username=self.username_for(claims["sub"]))

    def create_user(self, claims):
        return self.UserModel.objects.create_user(self.username_for(claims["sub"]))


BACKEND_PATH = f"{CorpOIDCBackend.__module__}.{CorpOIDCBackend.__qualname__}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def generate_pem() -> bytes:
    """An RSA signing key, as scripts/demo makes it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def unverified_claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@dataclass
class Delivery:
    """One back-channel notification the upstream sent (or is sending) to a client."""

    client_id: str
    uri: str
    reason: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str


@dataclass
class Upstream:
    url: str
    workdir: Path
    client_secret: str
    pem: bytes
    process: subprocess.Popen | None = None

    @property
    def issuer(self) -> str:
        return f"{self.url}/o"

    @property
    def db_path(self) -> Path:
        return self.workdir / "upstream.sqlite3"

    @property
    def log_path(self) -> Path:
        return self.workdir / "upstream.log"

    def endpoint(self, path: str) -> str:
        return f"{self.issuer}/{path}"

    # --- The subprocess ------------------------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("OIDC_RSA_PRIVATE_KEY", "DJANGO_SECRET_KEY")}
        env.update(
            DJANGO_SETTINGS_MODULE="example_project.settings",
            IDP_DATABASE="sqlite",  # never the test run's PostgreSQL
            IDP_SQLITE_PATH=str(self.db_path),
            IDP_OIDC_KEY_FILE=str(self.workdir / "upstream.key"),
            IDP_ISSUER=self.issuer,
            IDP_SESSION_COOKIE_NAME="upstream_sessionid",
            IDP_CSRF_COOKIE_NAME="upstream_csrftoken",
            DJANGO_DEBUG="1",
            PYTHONUNBUFFERED="1",
            **extra,
        )
        return env

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    @classmethod
    def start(
        cls, workdir: Path, *, redirect_uri: str, post_logout_redirect_uri: str, backchannel_logout_uri: str
    ) -> Upstream:
        port = free_port()
        upstream = cls(
            url=f"http://127.0.0.1:{port}",
            workdir=workdir,
            client_secret=secrets.token_urlsafe(32),
            pem=generate_pem(),
        )
        key_file = workdir / "upstream.key"
        key_file.write_bytes(upstream.pem)
        key_file.chmod(0o600)
        setup_env = upstream.env(
            UPSTREAM_URL=upstream.url,
            CORP_CLIENT_ID=CLIENT_ID,
            CORP_CLIENT_SECRET=upstream.client_secret,
            CORP_REDIRECT_URI=redirect_uri,
            CORP_POST_LOGOUT_REDIRECT_URI=post_logout_redirect_uri,
            CORP_BACKCHANNEL_LOGOUT_URI=backchannel_logout_uri,
        )
        with upstream.log_path.open("ab") as log:
            setup = subprocess.run(
                [sys.executable, "manage.py", "shell", "-c", SETUP_SCRIPT],
                cwd=REPO,
                env=setup_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=120,
                check=False,
            )
        if setup.returncode != 0:
            raise RuntimeError(f"setting up the upstream failed:\n{upstream.log_tail()}")
        log = upstream.log_path.open("ab")
        upstream.process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", "--skip-checks", f"127.0.0.1:{port}"],
            cwd=REPO,
            env=upstream.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        try:
            upstream.wait_until_ready()
        except BaseException:
            upstream.stop()
            raise
        return upstream

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the upstream exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                response = requests.get(self.endpoint(".well-known/openid-configuration"), timeout=2)
                if response.status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the upstream did not answer within {START_TIMEOUT}s:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    # --- What the upstream did (its database, read-only) ------------------------------------------------

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        uri = f"file:{self.db_path}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as conn:
            return conn.execute(sql, params).fetchall()

    def session(self, sid: str) -> dict | None:
        """The upstream's UserSession with this sid: user, ended_at, end_reason, client ids."""
        rows = self.query(
            "SELECT s.id, u.username, s.ended_at, s.end_reason FROM django_idp_logout_usersession s "
            "JOIN auth_user u ON u.id = s.user_id WHERE s.sid = ?",
            (sid,),
        )
        if not rows:
            return None
        pk, username, ended_at, end_reason = rows[0]
        clients = self.query(
            "SELECT a.client_id FROM django_idp_logout_sessionclient c "
            "JOIN oauth2_provider_application a ON a.id = c.application_id WHERE c.user_session_id = ?",
            (pk,),
        )
        return {
            "username": username,
            "ended_at": ended_at,
            "end_reason": end_reason,
            "client_ids": sorted(c for (c,) in clients),
        }

    def deliveries(self, sid: str) -> list[Delivery]:
        rows = self.query(
            "SELECT a.client_id, n.uri, n.reason, n.status, n.attempts, n.last_status_code, n.last_error "
            "FROM django_idp_logout_backchannelnotification n "
            "JOIN django_idp_logout_usersession s ON s.id = n.user_session_id "
            "JOIN oauth2_provider_application a ON a.id = n.application_id WHERE s.sid = ?",
            (sid,),
        )
        return [Delivery(*row) for row in rows]

    def wait_for_delivery(self, sid: str, timeout: float = 10.0) -> Delivery:
        """The upstream's back-channel notification to us for its session ``sid``, once it has an answer
        (our endpoint has then finished handling it). Also a barrier: nothing of ours is still busy."""
        deadline = time.monotonic() + timeout
        while True:
            answered = [d for d in self.deliveries(sid) if d.client_id == CLIENT_ID and d.attempts > 0]
            answered = [d for d in answered if d.last_status_code is not None or d.last_error]
            if answered:
                return answered[0]
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the upstream sent us no answered back-channel logout within {timeout}s: "
                    f"{self.deliveries(sid)}\n{self.log_tail()}"
                )
            time.sleep(0.05)

    # --- Logout tokens as the upstream would sign them ---------------------------------------------------

    def public_jwks(self) -> dict:
        response = requests.get(self.endpoint(".well-known/jwks.json"), timeout=5)
        response.raise_for_status()
        return response.json()

    def signing_key(self) -> jwk.JWK:
        return jwk.JWK.from_pem(self.pem)

    def logout_token(self, *, key: jwk.JWK | None = None, kid: str | None = None, **claims) -> str:
        """A logout token for us (aud ``idp-at-corp``), signed with the upstream's key unless ``key``;
        ``kid`` defaults to the one the upstream's JWKS publishes. None removes a claim."""
        (published,) = self.public_jwks()["keys"]
        now = int(time.time())
        body = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 120,
            "jti": str(uuid.uuid4()),
            "events": {BACKCHANNEL_EVENT: {}},
        }
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        header = {"alg": "RS256", "kid": kid or published["kid"], "typ": "logout+jwt"}
        token = jws.JWS(json.dumps(body).encode())
        token.add_signature(key or self.signing_key(), alg="RS256", protected=json.dumps(header))
        return token.serialize(compact=True)
