"""The HTTP POST of a logout token, guarded against SSRF (Back-Channel Logout 1.0 section 2.5).

- POST, form body with only ``logout_token``; redirects are not followed; 200 and 204 are success.
- No proxies from the environment (they would hide where the request really goes).
- Unless ``BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES``, the address the socket ACTUALLY connected to must be a
  public one: checked after ``connect()`` and before a byte is sent, so DNS rebinding (a name that
  resolves to a public address when checked and a private one when used) cannot get through.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from ..conf import app_settings


class ForbiddenAddress(Exception):
    """The target resolved to a private, loopback, link-local, multicast or reserved address."""


# RFC 6052 well-known NAT64 prefix: on IPv6-only networks (DNS64), an IPv4-only receiver resolves to
# 64:ff9b::a.b.c.d. The translator connects to a.b.c.d, so that address is what counts.
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")

# Special-purpose blocks that Python before 3.11.10 / 3.12.4 (CVE-2024-4032), or still, calls global.
# No back-channel receiver lives there.
NOT_GLOBAL_ON_OLD_PYTHONS = (
    ipaddress.ip_network("192.0.0.0/24"),
    ipaddress.ip_network("192.88.99.0/24"),
    ipaddress.ip_network("fec0::/10"),  # deprecated site-local
    ipaddress.ip_network("3fff::/20"),  # documentation (RFC 9637)
)


def address_forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in NAT64_PREFIX:
            return address_forbidden(str(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
        # IPv4 embedded in IPv6 (mapped, 6to4, Teredo) is judged by the IPv4 address it reaches.
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None and address_forbidden(str(embedded)):
            return True
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
    return (
        any(ip in network for network in NOT_GLOBAL_ON_OLD_PYTHONS)
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def _check_peer(sock) -> None:
    if app_settings.BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES:
        return
    peer = sock.getpeername()[0]
    if address_forbidden(peer):
        sock.close()
        raise ForbiddenAddress(f"refused: {peer} is not a public address")


class _GuardedHTTPConnection(HTTPConnection):
    def _new_conn(self):
        sock = super()._new_conn()
        _check_peer(sock)
        return sock


class _GuardedHTTPSConnection(HTTPSConnection):
    def _new_conn(self):
        sock = super()._new_conn()
        _check_peer(sock)
        return sock


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


@dataclass
class PostResult:
    ok: bool
    status_code: int | None = None
    error: str = ""


def post_logout_token(uri: str, logout_token: str) -> PostResult:
    """POST the token; never raises for network trouble, returns what happened."""
    session = requests.Session()
    session.trust_env = False
    session.mount("http://", _GuardedAdapter())
    session.mount("https://", _GuardedAdapter())
    try:
        response = session.post(
            uri,
            data={"logout_token": logout_token},
            timeout=app_settings.BACKCHANNEL_TIMEOUT,
            allow_redirects=False,
            stream=True,  # only the status matters: never read (or wait for) a body
            headers={"Cache-Control": "no-cache"},
        )
    except ForbiddenAddress as exc:
        return PostResult(ok=False, error=str(exc))
    except requests.ConnectionError as exc:
        inner = exc.__context__ or exc
        while inner is not None and not isinstance(inner, ForbiddenAddress):
            inner = inner.__context__
        if isinstance(inner, ForbiddenAddress):
            return PostResult(ok=False, error=str(inner))
        return PostResult(ok=False, error=f"connection failed: {type(exc).__name__}")
    except requests.Timeout:
        return PostResult(ok=False, error=f"timed out after {app_settings.BACKCHANNEL_TIMEOUT}s")
    except requests.RequestException as exc:
        return PostResult(ok=False, error=f"request failed: {type(exc).__name__}")
    finally:
        session.close()
    response.close()
    if response.status_code in (200, 204):
        return PostResult(ok=True, status_code=response.status_code)
    return PostResult(
        ok=False,
        status_code=response.status_code,
        error=f"HTTP {response.status_code} {response.reason or ''}".strip(),
    )
