"""A fake OpenID provider on a real local HTTP server: JWKS, token and userinfo endpoints.

Used by the client-site kit's tests (a mozilla-django-oidc site signing in against it) and by the
identity provider's upstream-logout tests (the upstream that sends us logout tokens).
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from jwcrypto import jws


class FakeOP:
    """State of the fake OP; the HTTP handler reads it. ``keys`` are published in its JWKS."""

    def __init__(self, url: str, keys: list):
        self.url = url
        self.keys = keys
        self.jwks_requests = 0
        self.token_responses: list[dict] = []
        self.userinfo: dict[str, dict] = {}

    @property
    def issuer(self) -> str:
        return self.url

    def endpoint(self, name: str) -> str:
        return f"{self.url}/{name}"

    def jwks(self) -> dict:
        return {"keys": [key.export_public(as_dict=True) for key in self.keys]}

    def sign(self, claims: dict, *, key=None, header: dict | None = None) -> str:
        key = key or self.keys[0]
        header = header or {"alg": "RS256", "kid": key["kid"], "typ": "JWT"}
        token = jws.JWS(json.dumps(claims).encode())
        token.add_signature(key, alg=header["alg"], protected=json.dumps(header))
        return token.serialize(compact=True)


class _Handler(BaseHTTPRequestHandler):
    op: FakeOP

    def log_message(self, *args):  # keep the test output clean
        pass

    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/jwks":
            self.op.jwks_requests += 1
            return self._json(200, self.op.jwks())
        if self.path == "/userinfo":
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            if token in self.op.userinfo:
                return self._json(200, self.op.userinfo[token])
            return self._json(401, {"error": "invalid_token"})
        return self._json(404, {"error": "not_found"})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/token" and self.op.token_responses:
            return self._json(200, self.op.token_responses.pop(0))
        return self._json(400, {"error": "invalid_grant"})


@contextmanager
def running_fake_op(keys: list):
    """Serve a FakeOP publishing ``keys`` on 127.0.0.1 (ephemeral port) for the duration of the block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), None)
    op = FakeOP(f"http://127.0.0.1:{server.server_port}", keys)
    server.RequestHandlerClass = type("Handler", (_Handler,), {"op": op})
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield op
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
