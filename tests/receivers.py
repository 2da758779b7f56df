"""A real HTTP server on 127.0.0.1 that plays a relying party's back-channel logout endpoint.

Each path can be told to answer with a status (or a sequence of statuses), redirect, or hold its answer
until released, so tests see exactly what the identity provider sent and how it reacted.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


@dataclass
class Received:
    path: str
    method: str
    headers: dict
    body: bytes
    at: float

    @property
    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode())


@dataclass
class Behaviour:
    statuses: list[int] = field(default_factory=lambda: [200])
    location: str | None = None
    hold: threading.Event | None = None
    delay: float = 0.0


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.behaviours: dict[str, Behaviour] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.received.append(
                        Received(self.path, "POST", dict(self.headers), body, time.monotonic())
                    )
                    behaviour = receiver.behaviours.get(self.path.split("?")[0], Behaviour())
                    status = (
                        behaviour.statuses.pop(0) if len(behaviour.statuses) > 1 else behaviour.statuses[0]
                    )
                if behaviour.hold is not None:
                    behaviour.hold.wait(timeout=30)
                if behaviour.delay:
                    time.sleep(behaviour.delay)
                self.send_response(status)
                if behaviour.location:
                    self.send_header("Location", behaviour.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def on(self, path: str, **behaviour) -> None:
        self.behaviours[path] = Behaviour(**behaviour)

    def posts_to(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path.split("?")[0] == path]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.received

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
