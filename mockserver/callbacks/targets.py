"""Where the mock may send callbacks. The mock POSTs wherever a configuration tells it, so a
caller of the control plane could aim it at the machine's or the network's other services
(server-side request forgery). The setting `callback_targets` decides:

    loopback   127.0.0.0/8, ::1 and the name localhost (no DNS query is made for other names)
    private    loopback, 10/8, 172.16/12, 192.168/16 and fc00::/7 (the default: CI containers)
    any        every unicast address, public ones included

Never, whatever the setting: unspecified, multicast and broadcast addresses, link-local ones
(169.254/16 and fe80::/10: cloud metadata services; also as IPv4-mapped, 6to4 or NAT64 IPv6),
the ports browsers refuse (the Fetch standard's "bad ports": SMTP, SSH, IRC...) plus those of
Redis and memcached, which read a request's lines as commands, and the port of the mock's own
Redis store (`store`), on any host. A name is resolved at every attempt and the connection goes
to the address that was checked, so a name that changes its answer (DNS rebinding) gains nothing.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Collection
from urllib.parse import SplitResult, urlsplit

POLICIES = ("loopback", "private", "any")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_PRIVATE = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))
# https://fetch.spec.whatwg.org/#bad-port, then Redis and memcached
BAD_PORTS = frozenset({
    0, 1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104,
    109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526,
    530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659,
    4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080, 6379, 11211,
})
MAX_URL = 2048
LOCALHOST = ("localhost", "localhost.")


class TargetRefused(ValueError):  # noqa: N818 - the answer of a check
    """A URL the mock will not send to; the message says why and which setting allows it."""


def store_ports(store: str) -> tuple[int, ...]:
    """The port of a Redis store's URL (`redis://HOST:PORT/DB`), which no callback may reach."""
    if not store.startswith(("redis://", "rediss://")):
        return ()
    try:
        port = urlsplit(store).port
    except ValueError:
        return ()
    return (port if port is not None else 6379,)


def split_url(url: str, refused_ports: Collection[int] = ()) -> tuple[SplitResult, str, int]:
    """The URL's parts, host and port; TargetRefused when it is not a plain http(s) URL (or its
    port is one of `refused_ports`, the mock's own store's)."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        raise TargetRefused(f"expected an http:// or https:// URL of at most {MAX_URL} characters")
    if not url.isascii() or not url.isprintable() or " " in url:
        raise TargetRefused("the URL must be printable ASCII without spaces (percent-encode the rest)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("expected an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("credentials in the URL are not sent; use 'authorization' (sent verbatim) instead")
    port = port if port is not None else (443 if parts.scheme == "https" else 80)
    if port in BAD_PORTS:
        raise TargetRefused(f"port {port} is one the mock never sends to (a browser's bad port, Redis or "
                            "memcached): receivers listen elsewhere")
    if port in refused_ports:
        raise TargetRefused(f"port {port} is the mock's own store (setting store): receivers listen elsewhere")
    return parts, parts.hostname, port


def never(address: IPAddress) -> bool:
    """An address no setting allows: unspecified, multicast, broadcast, link-local (metadata)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and never(embedded):
            return True
    return address.is_unspecified or address.is_multicast or address.is_link_local \
        or str(address) == "255.255.255.255"


def allowed(address: IPAddress, policy: str) -> bool:
    if never(address):
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return True
    if policy == "private":
        return any(address in network for network in _PRIVATE)
    return policy == "any"


def resolve(host: str, port: int, policy: str) -> list[tuple[socket.AddressFamily, tuple[str, int]]]:
    """The addresses to connect to, every one allowed by the policy; TargetRefused otherwise
    (and OSError when the name does not resolve)."""
    literal = _literal(host)
    if literal is not None:
        candidates = [literal]
    elif host.lower() in LOCALHOST:  # RFC 6761: loopback, whatever a resolver would say
        candidates = [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    elif policy == "loopback":
        raise TargetRefused(f"{host!r} is a name; callback_targets is 'loopback': use 127.0.0.1, [::1] or "
                            "localhost (or set callback_targets to private or any)")
    else:
        candidates = sorted({ipaddress.ip_address(str(info[4][0]).split("%")[0])
                             for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)}, key=str)
    good = [a for a in candidates if allowed(a, policy)]
    if not good:
        shown = ", ".join(str(a) for a in candidates[:4])
        if all(never(a) for a in candidates):
            raise TargetRefused(f"{host} is {shown}: the mock never sends to unspecified, multicast, broadcast "
                                "or link-local (cloud metadata) addresses, whatever callback_targets says")
        raise TargetRefused(f"{host} is {shown}: callback_targets is {policy!r}, which allows "
                            f"{_ALLOWS[policy]}; set callback_targets to send there")
    return [(socket.AF_INET6 if a.version == 6 else socket.AF_INET, (str(a), port)) for a in good]


def check(url: str, policy: str, refused_ports: Collection[int] = ()) -> None:
    """Refuse at once a URL whose host is an address the policy forbids (names are checked
    when they are resolved, at each attempt); never raises but TargetRefused."""
    _, host, port = split_url(url, refused_ports)
    literal = _literal(host)
    if literal is not None or policy == "loopback":
        try:
            resolve(host, port, policy)
        except (OSError, UnicodeError) as exc:  # a name that does not resolve (no DNS query is made here)
            raise TargetRefused(f"{host[:80]!r} does not resolve ({exc})") from None


_ALLOWS = {"loopback": "loopback addresses only", "private": "loopback and private networks only",
           "any": "every unicast address"}


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
