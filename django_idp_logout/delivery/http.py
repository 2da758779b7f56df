"""The HTTP POST of a logout token (Back-Channel Logout 1.0 section 2.5), non-blocking, SSRF-guarded.

- POST, form body with only ``logout_token``; redirects are not followed; 200 and 204 are success;
  the body is never read (or waited for).
- No proxies from the environment (they would hide where the request really goes).
- The address is decided BEFORE connecting: the host is resolved, every address it resolves to is
  checked, and the connection goes to one of those checked addresses (``GuardedResolver`` is what
  aiohttp's connector connects with; an IP literal is checked directly). A name with even one
  non-public address is refused whole. A refused target never sees a TCP handshake, so the stored
  error is the same whether its port is open or closed, and DNS rebinding has no second lookup to
  exploit. TLS still verifies the certificate against the host name (SNI and Host stay the name).

aiohttp rather than httpx: its connector takes a resolver object, which is exactly the "resolve, check,
connect to the checked address" seam the guard needs (httpx would need a private network backend), and
it holds thousands of concurrent requests in one process at a fraction of httpx's CPU cost per request.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlencode

import aiohttp
from aiohttp.abc import AbstractResolver
from aiohttp.resolver import ThreadedResolver
from yarl import URL

from .addresses import ForbiddenAddress, address_forbidden

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass(frozen=True)
class PostResult:
    ok: bool
    status_code: int | None = None
    error: str = ""


def refusal(host: str) -> str:
    # Names the host the operator registered, never what it resolved to or whether anything listens.
    return f"refused: {host} is not a public address"


def system_resolver() -> AbstractResolver:
    """The resolver the guard asks (the system's, via getaddrinfo in a thread). A seam for tests that
    need a name resolving to public addresses, which no resolver here can give."""
    return ThreadedResolver()


class GuardedResolver(AbstractResolver):
    """Resolves like the system does and refuses the host when ANY of its addresses is not public:
    aiohttp then connects only to addresses this resolver returned, i.e. checked ones."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private
        self.inner = system_resolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET):
        infos = await self.inner.resolve(host, port, family)
        if not self.allow_private and any(address_forbidden(info["host"]) for info in infos):
            raise ForbiddenAddress(refusal(host))
        return infos

    async def close(self) -> None:
        await self.inner.close()


def open_session(*, timeout: float, allow_private: bool, connections: int) -> aiohttp.ClientSession:
    """One client session for a batch or a worker's life: keep-alive connections are reused across
    notifications to the same client. ``connections`` caps open sockets (the callers' limits already
    bound the requests in flight)."""
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(allow_private=allow_private),
        limit=connections,
        limit_per_host=0,
        ttl_dns_cache=10,  # only checked answers are cached; a refusal is an exception, never cached
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout),
        trust_env=False,
        auto_decompress=False,
        headers={"Cache-Control": "no-cache"},
    )


@functools.lru_cache(maxsize=1024)  # a worker sends to the same few URIs over and over
def _literal_refused(uri: str, allow_private: bool) -> str | None:
    """aiohttp does not ask the resolver for an IP literal: check it here, before any socket."""
    if allow_private:
        return None
    host = URL(uri).host or ""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    return refusal(host) if address_forbidden(host) else None


# A compact JWS is base64url segments and dots: nothing in it needs form-encoding.
COMPACT = re.compile(r"[A-Za-z0-9_.-]*")


def form_body(logout_token: str) -> bytes:
    """``logout_token=<token>`` as bytes (no FormData machinery), encoded only if it needs to be."""
    if COMPACT.fullmatch(logout_token):
        return b"logout_token=" + logout_token.encode("ascii")
    return urlencode({"logout_token": logout_token}).encode("ascii")


async def post_logout_token(
    session: aiohttp.ClientSession, uri: str, logout_token: str, *, timeout: float, allow_private: bool
) -> PostResult:
    """POST the token; never raises for network trouble, returns what happened."""
    refused = _literal_refused(uri, allow_private)
    if refused:
        return PostResult(ok=False, error=refused)
    try:
        async with session.post(
            uri,
            data=form_body(logout_token),
            headers=FORM,
            allow_redirects=False,
            max_redirects=0,
        ) as response:
            status = response.status
            reason = response.reason or ""
    except ForbiddenAddress as exc:
        return PostResult(ok=False, error=str(exc))
    except TimeoutError:
        return PostResult(ok=False, error=f"timed out after {timeout:g}s")
    except aiohttp.ClientError as exc:
        cause = exc.__cause__
        if isinstance(cause, ForbiddenAddress):
            return PostResult(ok=False, error=str(cause))
        return PostResult(ok=False, error=f"connection failed: {type(exc).__name__}")
    except (OSError, ValueError) as exc:  # e.g. an unparsable URI stored before validation existed
        return PostResult(ok=False, error=f"request failed: {type(exc).__name__}")
    if status in (200, 204):
        return PostResult(ok=True, status_code=status)
    return PostResult(ok=False, status_code=status, error=f"HTTP {status} {reason}".strip())
