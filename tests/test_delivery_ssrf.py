"""SSRF, from the attacker's side: a client registers a back-channel URI that points inside.

The address is decided before connecting, so a refused target never even sees a TCP handshake: each
test keeps a real listening socket on 127.0.0.1 that counts the connections it accepts, and the stored
error is the same whether the port is open or closed (it cannot be used to scan ports).
"""

import asyncio
import socket
import threading

import pytest
from django.utils import timezone

from django_idp_logout.delivery import http
from django_idp_logout.delivery.addresses import ForbiddenAddress
from django_idp_logout.models import BackchannelNotification, EndReason, NotificationStatus, UserSession
from django_idp_logout.services.outbox import deliver_due

pytestmark = pytest.mark.django_db


class Listener:
    """A TCP server on 127.0.0.1 that only counts accepted connections (then closes them)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.running = False
        self.thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


@pytest.fixture
def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def notify(user, application_factory, logout_settings_factory, settings):
    """Queue one notification to ``uri`` and run a sweep (private addresses NOT allowed)."""
    settings.IDP_LOGOUT = {"BACKCHANNEL_DELIVERY": "sync", "BACKCHANNEL_TIMEOUT": 2}

    def send(uri: str) -> BackchannelNotification:
        app = application_factory()
        logout_settings_factory(app, backchannel_logout_uri=uri)
        session = UserSession.objects.create(user=user, ended_at=timezone.now(), end_reason="user_logout")
        row = BackchannelNotification.objects.create(
            user_session=session, application=app, uri=uri, reason=EndReason.USER_LOGOUT
        )
        deliver_due()
        row.refresh_from_db()
        return row

    return send


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "[::1]"])
def test_a_refused_loopback_target_never_sees_a_handshake(host, listener, notify):
    row = notify(f"http://{host}:{listener.port}/bc")
    assert listener.accepted == 0
    assert row.last_error.startswith("refused:") and "not a public address" in row.last_error
    assert row.status == NotificationStatus.PENDING and row.attempts == 1  # retried later, still refused


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f000001", "0177.0.0.1"])
def test_shorthand_loopback_spellings_never_connect(host, listener, notify):
    row = notify(f"http://{host}:{listener.port}/bc")
    assert listener.accepted == 0
    assert row.status == NotificationStatus.PENDING and row.last_error


def test_the_error_does_not_tell_an_open_port_from_a_closed_one(listener, closed_port, notify):
    opened = notify(f"http://localhost:{listener.port}/bc")
    closed = notify(f"http://localhost:{closed_port}/bc")
    assert listener.accepted == 0
    assert opened.last_error == closed.last_error == "refused: localhost is not a public address"
    assert opened.last_status_code is closed.last_status_code is None


class FakeDNS:
    """What a hostile DNS answers for a name; public DNS records cannot exist on this machine."""

    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses
        self.asked: list[str] = []

    async def resolve(self, host, port=0, family=socket.AF_INET):
        self.asked.append(host)
        return [
            {"hostname": host, "host": a, "port": port, "family": socket.AF_INET, "proto": 0, "flags": 0}
            for a in self.addresses
        ]

    async def close(self):
        pass


@pytest.mark.parametrize(
    "addresses",
    [
        ["127.0.0.1"],  # a name that resolves to loopback
        ["127.0.0.1", "93.184.215.14"],  # mixed: one private answer refuses the name, even if first...
        ["93.184.215.14", "127.0.0.1"],  # ...or last (the guard never connects to the public one either)
        ["10.0.0.7"],  # a private network address
    ],
)
def test_a_name_with_any_private_address_is_refused_before_connecting(
    addresses, listener, notify, monkeypatch
):
    dns = FakeDNS(addresses)
    monkeypatch.setattr(http, "system_resolver", lambda: dns)
    row = notify(f"http://rp.attacker.example:{listener.port}/bc")
    assert dns.asked == ["rp.attacker.example"]
    assert listener.accepted == 0
    assert row.last_error == "refused: rp.attacker.example is not a public address"


def test_the_guard_hands_back_only_checked_public_addresses(monkeypatch):
    """The connector connects to what the resolver returns: all public here, so all returned as is."""
    dns = FakeDNS(["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"])
    monkeypatch.setattr(http, "system_resolver", lambda: dns)
    resolver = http.GuardedResolver(allow_private=False)
    infos = asyncio.run(resolver.resolve("rp.example.com", 443))
    assert [info["host"] for info in infos] == dns.addresses
    dns.addresses = ["93.184.215.14", "169.254.169.254"]
    with pytest.raises(ForbiddenAddress):
        asyncio.run(resolver.resolve("rp.example.com", 443))


def test_allowing_private_addresses_connects_to_the_checked_loopback(listener, notify, settings):
    """The opt-in (BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES, development) really connects: the guard is
    what kept the other tests' listener untouched, not a broken URI."""
    settings.IDP_LOGOUT = {"BACKCHANNEL_DELIVERY": "sync", "BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES": True}
    row = notify(f"http://localhost:{listener.port}/bc")
    assert listener.accepted >= 1
    assert row.last_error.startswith("connection failed")


def test_the_form_body_is_the_token_form_encoded():
    from urllib.parse import parse_qs, urlencode

    compact = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln-_"
    assert http.form_body(compact) == urlencode({"logout_token": compact}).encode("ascii")
    odd = 'not a JWS: {"a": 1}&x=y+z'  # never produced by the signer, encoded all the same
    assert parse_qs(http.form_body(odd).decode("ascii"), strict_parsing=True) == {"logout_token": [odd]}


def test_the_literal_check_is_the_same_on_every_send():
    for _ in range(2):  # the second answer comes from the cache
        assert http._literal_refused("http://127.0.0.1:8000/bc", False) == http.refusal("127.0.0.1")
        assert http._literal_refused("http://127.0.0.1:8000/bc", True) is None
        assert http._literal_refused("https://rp.example.com/bc", False) is None
