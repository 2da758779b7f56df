"""Which addresses a back-channel POST may go to (Back-Channel Logout 1.0 section 2.5, SSRF).

Only public unicast addresses, unless ``BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES``. IPv4 carried inside IPv6
(mapped, 6to4, Teredo, the NAT64 well-known prefix) is judged by the IPv4 address it reaches.
"""

from __future__ import annotations

import ipaddress


class ForbiddenAddress(Exception):
    """The target is, or resolves to, a private, loopback, link-local, multicast or reserved address."""


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
