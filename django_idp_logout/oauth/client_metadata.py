"""A client's logout metadata as registration documents carry it (JSON), read, checked, stored, shown.

The three logout specs each define registration parameters (RP-Initiated Logout 1.0 section 3.1,
Front-Channel Logout 1.0 section 2, Back-Channel Logout 1.0 section 2.2):

- ``post_logout_redirect_uris``: array of absolute URIs, no fragment, a scheme the client may use for
  redirects (DOT's ``ALLOWED_REDIRECT_URI_SCHEMES``); stored in DOT's
  ``Application.post_logout_redirect_uris``;
- ``frontchannel_logout_uri`` / ``backchannel_logout_uri``: absolute http(s) URI, no fragment; ``http``
  only for a confidential client on a loopback host (or with ``DEBUG``); the back-channel URI must
  also pass the SSRF policy of the delivery (see ``backchannel_uri_error``);
- ``frontchannel_logout_session_required`` / ``backchannel_logout_session_required``: booleans,
  default true here (the specs' default is false; this OP always sends ``iss`` and ``sid``);
- ``id_token_signed_response_alg`` (OpenID Connect Dynamic Client Registration 1.0 section 2): only
  ``RS256``, the default when omitted, because logout needs ID tokens (``id_token_hint``, ``sid``)
  and DOT's registration sets no algorithm at all. ``HS256`` is refused: DOT stores registered
  secrets hashed, and HS256 signs with the plain secret. ``none`` is never accepted.

Stored in ``ClientLogoutSettings`` and DOT's ``Application``. DOT's Dynamic Client Registration
(``registration``) and Client ID Metadata Documents (``cimd``) both read documents of this shape.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from oauth2_provider.models import AbstractApplication
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.validators import AllowedURIValidator

from .. import untrusted
from ..conf import app_settings
from ..delivery.http import address_forbidden
from ..models import ClientLogoutSettings, logout_uri_error

#: Nesting deeper than this is no client metadata document (and would only cost stack).
MAX_DEPTH = 16

BOOLEAN_FIELDS = ("frontchannel_logout_session_required", "backchannel_logout_session_required")
URI_FIELDS = ("frontchannel_logout_uri", "backchannel_logout_uri")
#: Standard RFC 7591 members that DOT reads as text: checked here, so no other type reaches DOT.
TEXT_MEMBERS = ("client_name", "token_endpoint_auth_method")
TEXT_ARRAY_MEMBERS = ("redirect_uris", "grant_types")


class InvalidClientMetadata(ValueError):
    """RFC 7591 section 3.2.2 ``invalid_client_metadata``; ``str(exc)`` is safe to send back."""


@dataclass(frozen=True)
class LogoutMetadata:
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    frontchannel_logout_uri: str = ""
    frontchannel_logout_session_required: bool = True
    backchannel_logout_uri: str = ""
    backchannel_logout_session_required: bool = True
    algorithm: str = ""


def parse_document(body: bytes | str) -> dict[str, Any]:
    """The JSON object of a registration request, every string in it (keys too) usable text."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InvalidClientMetadata("The request body must be a JSON object.")
    return checked_document(data)


def checked_document(data: Any) -> dict[str, Any]:
    """``data`` itself when it is a JSON object whose every string (keys too) is usable text."""
    if not isinstance(data, dict):
        raise InvalidClientMetadata("The request body must be a JSON object.")
    _check_strings(data, "metadata", depth=0)
    return data


def _check_strings(value: Any, name: str, *, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise InvalidClientMetadata(f"{name} is nested too deeply.")
    try:
        if isinstance(value, str):
            untrusted.text(value, name=name)
        elif isinstance(value, dict):
            for key, item in value.items():
                untrusted.text(key, name="a member name", max_length=untrusted.MAX_ID_LENGTH)
                _check_strings(item, key, depth=depth + 1)
        elif isinstance(value, list):
            for item in value:
                _check_strings(item, name, depth=depth + 1)
    except untrusted.MalformedInput as exc:
        raise InvalidClientMetadata(str(exc))


def logout_metadata(data: dict[str, Any], *, public: bool) -> LogoutMetadata:
    """The logout metadata of a parsed document, checked; raises ``InvalidClientMetadata``."""
    for name in TEXT_MEMBERS:
        if name in data and not isinstance(data[name], str):
            raise InvalidClientMetadata(f"{name} must be a string.")
    for name in TEXT_ARRAY_MEMBERS:
        if name in data:
            _uri_list(data, name) if name == "redirect_uris" else _string_list(data, name)
    post_logout = _uri_list(data, "post_logout_redirect_uris")
    redirect_validator = AllowedURIValidator(
        _allowed_redirect_schemes(), name="post_logout_redirect_uri", allow_path=True, allow_query=True
    )
    for uri in post_logout:
        try:
            redirect_validator(uri)
        except ValidationError:
            raise InvalidClientMetadata(f"post_logout_redirect_uris: {uri!r} is not an allowed absolute URI.")
    uris = {name: _optional_string(data, name) for name in URI_FIELDS}
    for name, uri in uris.items():
        message = _logout_uri_error(uri, public=public)
        if message is None and name == "backchannel_logout_uri":
            message = backchannel_uri_error(uri)
        if message:
            raise InvalidClientMetadata(f"{name}: {message}")
    booleans = {}
    for name in BOOLEAN_FIELDS:
        value = data.get(name, True)
        if not isinstance(value, bool):
            raise InvalidClientMetadata(f"{name} must be true or false.")
        booleans[name] = value
    return LogoutMetadata(
        post_logout_redirect_uris=post_logout,
        **uris,
        **booleans,
        algorithm=_algorithm(data),
    )


def _string_list(data: dict[str, Any], name: str) -> list[str]:
    value = data.get(name, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidClientMetadata(f"{name} must be an array of strings.")
    return value


def _uri_list(data: dict[str, Any], name: str) -> list[str]:
    uris = _string_list(data, name)
    # DOT keeps URI lists space-separated: a URI with white space in it would register two.
    if any(not uri or any(ch.isspace() for ch in uri) for uri in uris):
        raise InvalidClientMetadata(f"{name} must hold URIs without white space.")
    return uris


def _optional_string(data: dict[str, Any], name: str) -> str:
    value = data.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidClientMetadata(f"{name} must be a string.")
    return value


def _allowed_redirect_schemes() -> set[str]:
    return {scheme.lower() for scheme in oauth2_settings.ALLOWED_REDIRECT_URI_SCHEMES}


def _logout_uri_error(uri: str, *, public: bool) -> str | None:
    try:
        message = logout_uri_error(uri)
        scheme = urlsplit(uri).scheme
    except ValueError:  # e.g. an unbalanced "[" in the host
        return "is not a valid URI."
    if message:
        return str(message)
    if public and scheme == "http" and not _is_loopback_uri(uri):
        # The specs allow http only "provided that the Client Type is confidential".
        return "a public client must use https."
    return None


def _is_loopback_uri(uri: str) -> bool:
    host = urlsplit(uri).hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def backchannel_uri_error(uri: str) -> str | None:
    """The SSRF policy of back-channel delivery, applied at registration: unless
    ``BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES``, the host must not be (or resolve to) a private, loopback,
    link-local or reserved address. A name that does not resolve now is accepted: the delivery checks
    the address it actually connects to, every time (``delivery.http``)."""
    if not uri or app_settings.BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES:
        return None
    host = (urlsplit(uri).hostname or "").rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return "the host is not a public address."
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addresses = [info[4][0] for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)]
        except (OSError, UnicodeError):
            return None
    if any(address_forbidden(address) for address in addresses):
        return "the host is not a public address."
    return None


def _algorithm(data: dict[str, Any]) -> str:
    value = data.get("id_token_signed_response_alg")
    if value is None:
        return AbstractApplication.RS256_ALGORITHM if oauth2_settings.OIDC_RSA_PRIVATE_KEY else ""
    if value != AbstractApplication.RS256_ALGORITHM:
        raise InvalidClientMetadata("id_token_signed_response_alg: only RS256 is supported.")
    if not oauth2_settings.OIDC_RSA_PRIVATE_KEY:
        raise InvalidClientMetadata("id_token_signed_response_alg: this provider signs no ID tokens.")
    return value


def store(application, metadata: LogoutMetadata) -> None:
    """Write the metadata: DOT's application fields, then our per-client row (created or replaced:
    RFC 7592 section 2.2, an update replaces the whole registration)."""
    application.post_logout_redirect_uris = " ".join(metadata.post_logout_redirect_uris)
    application.algorithm = metadata.algorithm
    application.save(update_fields=["post_logout_redirect_uris", "algorithm"])
    ClientLogoutSettings.objects.update_or_create(
        application=application,
        defaults={
            "frontchannel_logout_uri": metadata.frontchannel_logout_uri,
            "frontchannel_logout_session_required": metadata.frontchannel_logout_session_required,
            "backchannel_logout_uri": metadata.backchannel_logout_uri,
            "backchannel_logout_session_required": metadata.backchannel_logout_session_required,
        },
    )


def describe(application) -> dict[str, Any]:
    """The logout metadata of ``application`` as registration responses show it."""
    row = ClientLogoutSettings.objects.filter(application=application).first() or ClientLogoutSettings()
    described: dict[str, Any] = {
        "post_logout_redirect_uris": application.post_logout_redirect_uris.split(),
        "frontchannel_logout_session_required": row.frontchannel_logout_session_required,
        "backchannel_logout_session_required": row.backchannel_logout_session_required,
    }
    for name in URI_FIELDS:
        if getattr(row, name):
            described[name] = getattr(row, name)
    if application.algorithm:
        described["id_token_signed_response_alg"] = application.algorithm
    return described
