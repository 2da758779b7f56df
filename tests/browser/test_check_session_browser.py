"""OpenID Connect Session Management 1.0 in a real headless Chromium: an RP page frames the OP's
check_session_iframe (found through discovery), posts "client_id session_state" and reads the answer.

Same-site setup, as in the demo: the OP is the live server on ``localhost``, the RP page is served from
another port of ``localhost`` (another origin, the same site), so the browser-state cookie is first-party
in the frame. A third server on ``127.0.0.1`` plays an unregistered origin, framed inside the RP page.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.sync_api import expect

from django_idp_logout.services.client_origins import forget_registered_origins
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser

ANSWER_TIMEOUT = 3.0
SILENCE = 1.5  # how long an ignored message is given to (not) be answered

RP_PAGE = """<!doctype html><html><head><title>RP</title></head><body>
<iframe id="op" src="{iframe}" onload="window.opLoaded = true"></iframe>
<iframe id="other" src="{other}"></iframe>
<script>
  window.answers = [];
  window.addEventListener("message", function (e) {{
    if (e.origin === "{op_origin}") {{ window.answers.push(e.data); }}
  }});
  window.check = function (message) {{
    document.getElementById("op").contentWindow.postMessage(message, "{op_origin}");
  }};
</script></body></html>"""

OTHER_PAGE = """<!doctype html><html><head><title>other</title></head><body><script>
  window.answers = [];
  window.addEventListener("message", function (e) { window.answers.push(e.data); });
  window.probe = function (message) { parent.frames[0].postMessage(message, "*"); };
</script></body></html>"""


class PageServer:
    """Serves fixed HTML pages on 127.0.0.1 (any path not listed: the page for "*")."""

    def __init__(self, pages: dict[str, str]) -> None:
        self.pages = pages
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                path = urlsplit(self.path).path
                body = owner.pages.get(path, owner.pages.get("*", "")).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.daemon = True
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def rp(live_idp, application_factory):
    """The RP page server (``http://localhost:<port>``, registered) and an unregistered page server
    (``http://127.0.0.1:<port>``); returns (rp origin, other origin, application, servers)."""
    forget_registered_origins()
    rp_server, other_server = PageServer({}), PageServer({"*": OTHER_PAGE})
    rp_origin = f"http://localhost:{rp_server.port}"
    other_origin = f"http://127.0.0.1:{other_server.port}"
    application = application_factory(
        name="Polling RP",
        client_id="polling-rp",
        client_type="public",
        redirect_uris=f"{rp_origin}/callback",
        skip_authorization=True,
    )
    yield rp_origin, other_origin, application, rp_server
    rp_server.close()
    other_server.close()
    forget_registered_origins()


def wait_for_answers(page_or_frame, count: int, timeout: float = ANSWER_TIMEOUT) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        answers = page_or_frame.evaluate("window.answers")
        if len(answers) >= count or time.monotonic() > deadline:
            return answers
        time.sleep(0.05)


def sign_in_at_rp(page, live_idp, rp_origin, application) -> str:
    """The code flow for the RP (the browser is signed in at the OP): returns its session_state."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urlencode(
        {
            "response_type": "code",
            "client_id": application.client_id,
            "redirect_uri": f"{rp_origin}/callback",
            "scope": "openid",
            "state": "s",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    page.goto(f"{live_idp.url}/o/authorize/?{query}")
    expect(page).to_have_url(re.compile(rf"^{re.escape(rp_origin)}/callback\?"))
    params = parse_qs(urlsplit(page.url).query)
    assert "code" in params, page.url
    page.wait_for_function("window.opLoaded === true")
    return params["session_state"][0]


def test_rp_page_polls_the_iframe_unchanged_then_changed_after_logout_in_another_tab(page, live_idp, rp):
    rp_origin, other_origin, application, rp_server = rp
    discovery = page.request.get(f"{live_idp.url}/o/.well-known/openid-configuration").json()
    iframe_url = discovery["check_session_iframe"]
    assert iframe_url == f"{live_idp.url}/check-session/"
    rp_server.pages["*"] = RP_PAGE.format(iframe=iframe_url, other=f"{other_origin}/", op_origin=live_idp.url)

    sign_in(page, live_idp)
    session_state = sign_in_at_rp(page, live_idp, rp_origin, application)
    message = f"{application.client_id} {session_state}"

    page.evaluate("m => window.check(m)", message)
    assert wait_for_answers(page, 1) == ["unchanged"]

    # A message that is not "client_id session_state": error.
    page.evaluate("m => window.check(m)", "no-session-state-here")
    assert wait_for_answers(page, 2)[1] == "error"
    # Another client id with this session_state: not this RP's state.
    page.evaluate("m => window.check(m)", f"other-client {session_state}")
    assert wait_for_answers(page, 3)[2] == "changed"

    # Sign out at the OP in another tab: the RP's tab is not reloaded, the iframe is not reloaded.
    other_tab = page.context.new_page()
    other_tab.goto(live_idp.end_session_url())
    other_tab.click("#logout-confirm")
    other_tab.wait_for_url(f"{live_idp.url}/logged-out/**")

    page.evaluate("m => window.check(m)", message)
    assert wait_for_answers(page, 4)[3] == "changed"


def test_a_new_login_in_another_tab_is_a_change_too(page, live_idp, rp):
    rp_origin, other_origin, application, rp_server = rp
    rp_server.pages["*"] = RP_PAGE.format(
        iframe=f"{live_idp.url}/check-session/", other=f"{other_origin}/", op_origin=live_idp.url
    )
    sign_in(page, live_idp)
    message = f"{application.client_id} {sign_in_at_rp(page, live_idp, rp_origin, application)}"

    other_tab = page.context.new_page()
    other_tab.goto(live_idp.end_session_url())
    other_tab.click("#logout-confirm")
    other_tab.wait_for_url(f"{live_idp.url}/logged-out/**")
    sign_in(other_tab, live_idp)  # the same user, a new session

    page.evaluate("m => window.check(m)", message)
    assert wait_for_answers(page, 1) == ["changed"]


def test_a_message_from_an_unregistered_origin_gets_no_answer(page, live_idp, rp):
    rp_origin, other_origin, application, rp_server = rp
    iframe_url = f"{live_idp.url}/check-session/"
    rp_server.pages["*"] = RP_PAGE.format(iframe=iframe_url, other=f"{other_origin}/", op_origin=live_idp.url)
    sign_in(page, live_idp)
    message = f"{application.client_id} {sign_in_at_rp(page, live_idp, rp_origin, application)}"

    op_frame = page.frame(url=iframe_url)
    other_frame = page.frame(url=f"{other_origin}/")
    assert op_frame is not None and other_frame is not None
    # Instrument the OP frame (test only) to see that the foreign message did arrive.
    op_frame.evaluate("window.seen = []; window.addEventListener('message', e => window.seen.push(e.origin))")

    other_frame.evaluate("m => window.probe(m)", message)
    other_frame.evaluate("m => window.probe(m)", "garbage")
    deadline = time.monotonic() + ANSWER_TIMEOUT
    while len(op_frame.evaluate("window.seen")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert op_frame.evaluate("window.seen") == [other_origin, other_origin]
    time.sleep(SILENCE)
    assert other_frame.evaluate("window.answers") == []
    assert page.evaluate("window.answers") == []

    # The registered origin is still answered (the iframe works; it ignored the stranger on purpose).
    page.evaluate("m => window.check(m)", message)
    assert wait_for_answers(page, 1) == ["unchanged"]


def test_an_unregistered_origin_cannot_frame_the_iframe(page, live_idp, rp):
    _, other_origin, _, _ = rp
    iframe_url = f"{live_idp.url}/check-session/"
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text) if "frame-ancestors" in msg.text else None)
    page.goto(f"{other_origin}/")
    page.evaluate(
        "u => { const f = document.createElement('iframe'); f.src = u; document.body.appendChild(f); }",
        iframe_url,
    )
    deadline = time.monotonic() + ANSWER_TIMEOUT
    while not violations and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert violations, "Chromium framed the check_session_iframe in an unregistered origin"
