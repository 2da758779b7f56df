"""What a person needs to recognise a login session: the browser and OS (from the User-Agent) and the
client IP address, read from the request at sign-in.

The User-Agent is parsed with ``ua-parser`` (uap-python 1.x with the ``ua-parser-builtins`` rules): the
maintained Python port of the uap-core rules that browsers' vendors and the big sites keep current, so
new browser versions are recognised by upgrading a package, not by editing our code.

Both values are untrusted: the User-Agent is whatever the client sent. It passes the one gate
(``untrusted.py``) in a lenient form: NUL bytes and lone surrogates are dropped, and it is cut to
``USER_AGENT_MAX_LENGTH``, because a hostile header must neither break the sign-in (a 500) nor be stored
unbounded. Templates escape it like every other value.

The IP address is ``REMOTE_ADDR`` unless ``CLIENT_IP_HEADER`` names a header set by your own reverse
proxy (never by default: any client can send ``X-Forwarded-For``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

from django.http import HttpRequest

from . import untrusted
from .conf import app_settings
from .models import USER_AGENT_MAX_LENGTH

#: Browser and OS names are cut to fit their columns.
NAME_MAX_LENGTH = 64


@dataclass(frozen=True)
class Device:
    """The recognisable traits of the browser that signed in."""

    user_agent: str = ""
    browser: str = ""
    os: str = ""
    ip_address: str | None = None

    def as_fields(self) -> dict[str, str | None]:
        return {
            "user_agent": self.user_agent,
            "browser": self.browser,
            "os": self.os,
            "ip_address": self.ip_address,
        }


def from_request(request: HttpRequest) -> Device:
    """The ``Device`` of ``request``: never raises, whatever the headers hold."""
    user_agent = sanitized_user_agent(request.META.get("HTTP_USER_AGENT", ""))
    browser, os = parse_user_agent(user_agent)
    return Device(user_agent=user_agent, browser=browser, os=os, ip_address=client_ip(request))


def sanitized_user_agent(value: object) -> str:
    """``value`` made storable: a string without NUL or lone surrogates, at most USER_AGENT_MAX_LENGTH
    characters. Anything else (not a string) becomes ""."""
    if not isinstance(value, str):
        return ""
    value = value[: USER_AGENT_MAX_LENGTH * 4].replace("\x00", "")
    value = value.encode("utf-8", "ignore").decode("utf-8")  # drops lone surrogates
    value = value[:USER_AGENT_MAX_LENGTH]
    # The gate agrees now; this guards the invariant if the rules above ever drift apart.
    return value if untrusted.problem(value, max_length=USER_AGENT_MAX_LENGTH) is None else ""


@lru_cache(maxsize=1)
def _parser():
    """ua-parser with its rules compiled on first use, rule by rule (``load_lazy_builtins``): the
    first login of a process then compiles the few rules a common browser needs instead of all of
    them (ua-parser's global parser compiles every rule up front when it has no Rust or re2 engine)."""
    import ua_parser

    return ua_parser.Parser(ua_parser.BestAvailableResolver(ua_parser.load_lazy_builtins()))


@lru_cache(maxsize=512)
def parse_user_agent(user_agent: str) -> tuple[str, str]:
    """(browser, OS) as people name them, e.g. ("Firefox 130", "Linux"); "" for what is unknown."""
    if not user_agent:
        return "", ""
    parser = _parser()
    agent = parser.parse_user_agent(user_agent)
    system = parser.parse_os(user_agent)
    browser = _name(agent.family, agent.major) if agent is not None else ""
    os = _name(system.family, system.major) if system is not None else ""
    return browser[:NAME_MAX_LENGTH], os[:NAME_MAX_LENGTH]


def _name(family: str | None, major: str | None) -> str:
    if not family or family == "Other":
        return ""
    return f"{family} {major}" if major else family


def client_ip(request: HttpRequest) -> str | None:
    """The client's IP address: ``REMOTE_ADDR``, or, when ``CLIENT_IP_HEADER`` is set, the address that
    your ``CLIENT_IP_TRUSTED_PROXIES``-th proxy (counted from the server) put into that header."""
    header = app_settings.CLIENT_IP_HEADER
    if header:
        hops = [part.strip() for part in str(request.META.get(header, "")).split(",") if part.strip()]
        position = app_settings.CLIENT_IP_TRUSTED_PROXIES
        if len(hops) >= position:
            address = _valid_ip(hops[-position])
            if address:
                return address
    return _valid_ip(request.META.get("REMOTE_ADDR"))


def _valid_ip(value: object) -> str | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        address = ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return None
    # A zone ("fe80::1%eth0") means nothing to anyone else, and the database column refuses it.
    return None if getattr(address, "scope_id", None) else str(address)
