"""The README's "Integrate it in 5 minutes", followed as written in a fresh `django-admin startproject`.

Run by scripts/test_guide with the Python of a fresh virtualenv where only the built wheel is installed
(no repository on sys.path). Every step the guide shows is taken from the files the README includes
(docs/integration/), so the README and this check cannot drift (tests/test_readme_guide.py keeps the
README's code blocks equal to those files):

    python guide_check.py new-project|existing-dot REPOSITORY

Then: manage.py check and migrate, a superuser and a client, `runserver` on a free 127.0.0.1 port, and
over plain HTTP (requests, one cookie session like a browser): sign in, the code flow with PKCE, the ID
token verified against the JWKS, end session, the prompt confirmed, back at the client with its state,
and the session's tokens dead.
"""

from __future__ import annotations

import base64
import hashlib
import html.parser
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import requests
from jwcrypto import jwk, jwt

REDIRECT_URI = "https://rp.example.com/callback"
POST_LOGOUT_URI = "https://rp.example.com/signed-out"
ADMIN_PASSWORD = "guide-" + secrets.token_urlsafe(12)


def step(message: str) -> None:
    print(f"  ok: {message}", flush=True)


def run(*args: str, env: dict[str, str], **kwargs) -> str:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, **kwargs)
    if done.returncode != 0:
        sys.exit(f"FAILED: {' '.join(args)}\n{done.stdout}\n{done.stderr}")
    return done.stdout + done.stderr


def append(path: Path, snippet: Path) -> None:
    path.write_text(path.read_text() + "\n\n" + snippet.read_text())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def keys_from(script: Path) -> dict[str, str]:
    """Run the guide's key step in bash and read back what it exported."""
    out = subprocess.run(
        [
            "bash",
            "-c",
            f'set -e; source "{script}"; printf "%s\\0%s" "$OIDC_RSA_PRIVATE_KEY" "$OIDC_ISS_ENDPOINT"',
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    key, issuer = out.split("\0")
    if "PRIVATE KEY" not in key:
        sys.exit(f"FAILED: the key step made no PEM private key: {key[:80]!r}")
    return {"OIDC_RSA_PRIVATE_KEY": key, "OIDC_ISS_ENDPOINT": issuer}


class Forms(html.parser.HTMLParser):
    """The <input> name/value pairs of each <form> on a page."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, str]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({})
        elif tag in ("input", "button") and self.forms and attrs.get("name"):
            if tag == "input" or attrs.get("value") in ("yes", "Authorize"):
                self.forms[-1].setdefault(attrs["name"], attrs.get("value") or "")


def forms_of(page: requests.Response) -> list[dict[str, str]]:
    parser = Forms()
    parser.feed(page.text)
    return parser.forms


def apply_guide(variant: str, repo: Path, project: Path) -> None:
    guide = repo / "docs" / "integration"
    settings, urls = project / "mysite" / "settings.py", project / "mysite" / "urls.py"
    if variant == "existing-dot":
        # The project as it was before the guide: DOT installed, its URLs under /o/.
        append(settings, repo / "scripts" / "guide" / "existing_dot_settings.py")
        append(urls, repo / "scripts" / "guide" / "existing_dot_urls.py")
        append(settings, guide / "settings-existing-dot.py")
        # The guide: "replace your include("oauth2_provider.urls") line".
        kept = [
            line for line in urls.read_text().splitlines() if 'include("oauth2_provider.urls"' not in line
        ]
        urls.write_text("\n".join(kept) + "\n")
    else:
        append(settings, guide / "settings.py")
    append(urls, guide / "urls.py")
    step(f"{variant}: applied docs/integration/ to a fresh startproject")


def main() -> None:
    variant, repo = sys.argv[1], Path(sys.argv[2]).resolve()
    project = Path.cwd()
    python = sys.executable
    env = {**os.environ, "PYTHONPATH": "", "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD}
    run(python, "-m", "django", "startproject", "mysite", ".", env=env)
    apply_guide(variant, repo, project)

    port = free_port()
    env.update(keys_from(repo / "docs" / "integration" / "keys.sh"))
    base = f"http://127.0.0.1:{port}"
    env["OIDC_ISS_ENDPOINT"] = f"{base}/o"  # the guide's issuer, on the port this check got
    manage = [python, "manage.py"]
    out = run(*manage, "check", "--fail-level", "WARNING", env=env)
    step(f"manage.py check: {out.strip().splitlines()[-1]}")
    run(*manage, "migrate", "--noinput", env=env)
    step("manage.py migrate")
    run(*manage, "createsuperuser", "--noinput", "--username", "admin", "--email", "a@example.com", env=env)
    out = run("bash", str(repo / "docs" / "integration" / "register-client.sh"), env=env, cwd=project)
    if "created successfully" not in out:
        sys.exit(f"FAILED: createapplication: {out}")
    client_secret = re.search(r"client_secret: (\S+)", out).group(1)
    step("client registered with docs/integration/register-client.sh")

    log = open(project / "runserver.log", "wb")  # noqa: SIM115 (closed with the server)
    server = subprocess.Popen(
        [*manage, "runserver", "--noreload", f"127.0.0.1:{port}"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        wait_until_up(base, server, project)
        code_flow_and_logout(base, client_secret)
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


def wait_until_up(base: str, server: subprocess.Popen, project: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit("FAILED: runserver exited:\n" + (project / "runserver.log").read_text())
        try:
            requests.get(f"{base}/o/.well-known/openid-configuration", timeout=2)
            step(f"runserver up on {base}")
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    sys.exit("FAILED: runserver did not start:\n" + (project / "runserver.log").read_text())


def expect(condition: bool, message: str, response: requests.Response | None = None) -> None:
    if not condition:
        detail = (
            f"\n{response.status_code} {response.headers.get('Location', '')}\n{response.text[:2000]}"
            if (response is not None)
            else ""
        )
        sys.exit(f"FAILED: {message}{detail}")
    step(message)


def code_flow_and_logout(base: str, client_secret: str) -> None:
    browser = requests.Session()
    discovery = browser.get(f"{base}/o/.well-known/openid-configuration", timeout=10).json()
    expect(discovery["issuer"] == f"{base}/o", f"discovery: issuer {discovery['issuer']}")
    expect("openid" in discovery["scopes_supported"], f"discovery: scopes {discovery['scopes_supported']}")
    expect(
        discovery["end_session_endpoint"] == f"{base}/end-session/",
        f"discovery: end_session_endpoint {discovery['end_session_endpoint']}",
    )

    # Sign in (the admin's login form: startproject has no other).
    login = browser.get(f"{base}/admin/login/", timeout=10)
    fields = {**forms_of(login)[0], "username": "admin", "password": ADMIN_PASSWORD, "next": "/admin/"}
    signed_in = browser.post(f"{base}/admin/login/", data=fields, allow_redirects=False, timeout=10)
    expect(
        signed_in.status_code == 302 and signed_in.headers["Location"] == "/admin/", "signed in", signed_in
    )

    # The code flow with PKCE; DOT asks for consent first (the client does not skip authorization).
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state, nonce = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    query = {
        "response_type": "code",
        "client_id": "example-rp",
        "redirect_uri": REDIRECT_URI,
        "scope": "openid",
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    authorize_url = f"{base}/o/authorize/?{urlencode(query)}"
    consent = browser.get(authorize_url, allow_redirects=False, timeout=10)
    if consent.status_code == 200:
        allow = {**forms_of(consent)[0], "allow": "Authorize"}
        consent = browser.post(authorize_url, data=allow, allow_redirects=False, timeout=10)
    location = consent.headers.get("Location", "")
    expect(consent.status_code == 302 and location.startswith(REDIRECT_URI + "?"), "authorized", consent)
    returned = parse_qs(urlsplit(location).query)
    expect(returned["state"] == [state], "code returned with the state")

    tokens = requests.post(
        f"{base}/o/token/",
        auth=("example-rp", client_secret),
        timeout=10,
        data={
            "grant_type": "authorization_code",
            "code": returned["code"][0],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
    )
    expect(tokens.status_code == 200, "code exchanged for tokens", tokens)
    tokens = tokens.json()
    keys = jwk.JWKSet.from_json(requests.get(discovery["jwks_uri"], timeout=10).text)
    claims = json.loads(jwt.JWT(jwt=tokens["id_token"], key=keys, algs=["RS256"]).claims)
    expect(
        claims["iss"] == f"{base}/o" and claims["aud"] == "example-rp" and claims["nonce"] == nonce,
        "ID token verified against the JWKS (iss, aud, nonce)",
    )
    expect(bool(claims.get("sid")), f"ID token carries the session's sid {claims.get('sid')}")
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    userinfo = requests.get(f"{base}/o/userinfo/", headers=bearer, timeout=10)
    expect(userinfo.status_code == 200, "userinfo answers the access token", userinfo)

    # End session as a hotlinked client would (no hint): the prompt, confirmed, then back at the client.
    end = browser.get(
        f"{base}/end-session/",
        allow_redirects=False,
        timeout=10,
        params={"client_id": "example-rp", "post_logout_redirect_uri": POST_LOGOUT_URI, "state": "bye"},
    )
    expect(
        end.status_code == 302 and "/logout/?logout_id=" in end.headers["Location"],
        "end session sends the browser to the prompt",
        end,
    )
    prompt = browser.get(urljoin(base, end.headers["Location"]), timeout=10)
    form = forms_of(prompt)[0]
    expect(
        prompt.status_code == 200 and "logout_id" in form and "csrfmiddlewaretoken" in form,
        "the prompt asks (GET signs nobody out)",
        prompt,
    )
    confirmed = browser.post(f"{base}/logout/", data=form, allow_redirects=False, timeout=10)
    expect(confirmed.status_code == 302, "confirmed", confirmed)
    while confirmed.status_code == 302 and urljoin(base, confirmed.headers["Location"]).startswith(base):
        confirmed = browser.get(
            urljoin(base, confirmed.headers["Location"]), allow_redirects=False, timeout=10
        )
    expect(
        confirmed.status_code == 302 and confirmed.headers["Location"] == f"{POST_LOGOUT_URI}?state=bye",
        f"back at the client: {confirmed.headers.get('Location')}",
        confirmed,
    )

    again = browser.get(authorize_url, allow_redirects=False, timeout=10)
    expect(
        again.status_code == 302 and again.headers["Location"].startswith("/accounts/login/"),
        "signed out: authorize asks to sign in again",
        again,
    )
    userinfo = requests.get(f"{base}/o/userinfo/", headers=bearer, timeout=10)
    expect(userinfo.status_code == 401, "the session's access token is revoked (coordinated)", userinfo)
    refreshed = requests.post(
        f"{base}/o/token/",
        auth=("example-rp", client_secret),
        timeout=10,
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    expect(refreshed.status_code == 400, "the session's refresh token is revoked", refreshed)


if __name__ == "__main__":
    main()
