"""Outbound URLs a client names (callback URLs, attachment URLs): the SSRF guard and a pinned
connection.

A URL a client hands us is fetched or posted to from inside our network, with our identity:
without a guard it reaches the metadata server (`169.254.169.254`: the function's access
token), localhost services, or a VPC. So, in production:

* only `https`, no user name or password in the URL, a host name or a literal address;
* the host is resolved and **every** address it resolves to must be public — not loopback,
  private (RFC 1918, IPv6 unique-local), link-local (incl. the metadata server), shared
  address space (CGNAT, 100.64/10), multicast, reserved, unspecified, documentation or
  benchmarking ranges, or an IPv6 address that embeds such an IPv4 address (IPv4-mapped,
  IPv4-compatible, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`, Teredo);
* the connection goes to the address that was checked (`PinnedUrl.connection`), with TLS
  verified against the host name, so a DNS answer that changes between the check and the
  connect (DNS rebinding) cannot send the request elsewhere. Redirects are never followed.

`allow_private=True` (the local stack only) accepts `http` and local addresses.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from shared.errors import AIExecError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]
MAX_URL_CHARS = 2048
# Host names that name the metadata server whatever they resolve to (the GCE/GKE/Cloud Run one).
_METADATA_NAMES = frozenset({"metadata", "metadata.google.internal", "metadata.goog"})
# Ranges `ipaddress` does not flag (all of them are refused).
_EXTRA_BLOCKED = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",  # "this network"
        "100.64.0.0/10",  # shared address space (CGNAT), RFC 6598
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # TEST-NET-1
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # TEST-NET-2
        "203.0.113.0/24",  # TEST-NET-3
        "255.255.255.255/32",  # broadcast
        "64:ff9b:1::/48",  # local-use NAT64, RFC 8215
        "2001:db8::/32",  # documentation
        "fec0::/10",  # deprecated site-local
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class OutboundUrlError(AIExecError, ValueError):
    """A URL we must not connect to; the message says why (never echoing a resolved address)."""


@dataclass(frozen=True)
class PinnedUrl:
    """A checked URL and the public addresses its host resolved to (connect to these only)."""

    url: str
    scheme: str
    host: str
    port: int
    target: str  # path and query, as sent in the request line
    addresses: tuple[str, ...] = field(default=())

    def connection(self, timeout_s: float) -> http.client.HTTPConnection:
        """A connection to the first checked address (TLS names the host, not the address)."""
        address = self.addresses[0]
        if self.scheme == "https":
            return _PinnedHTTPS(self.host, address, self.port, timeout_s)
        return _PinnedHTTP(self.host, address, self.port, timeout_s)


def blocked_reason(address: IPAddress) -> str | None:
    """Why an address is not public, or None when it is."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            inner = blocked_reason(embedded)
            return f"embeds an IPv4 address that {inner}" if inner else None
    checks = (
        (address.is_loopback, "is a loopback address"),
        (address.is_link_local, "is a link-local address (incl. the metadata server)"),
        (address.is_multicast, "is a multicast address"),
        (address.is_unspecified, "is the unspecified address"),
        (address.is_private, "is a private address"),
        (address.is_reserved, "is a reserved address"),
        (any(address in net for net in _EXTRA_BLOCKED), "is in a reserved or shared range"),
        (not address.is_global, "is not a public address"),
    )
    return next((reason for hit, reason in checks if hit), None)


def check_url(
    url: str,
    *,
    allow_private: bool = False,
    resolve: Resolver | None = None,
) -> PinnedUrl:
    """The URL parsed, its host resolved and every address checked; OutboundUrlError if not."""
    parts = _parse(url, allow_private)
    host = parts.host
    addresses = _resolve(host, parts.port, resolve or system_resolver)
    if not allow_private:
        if host.rstrip(".").lower() in _METADATA_NAMES:
            raise OutboundUrlError("the host names the metadata server")
        for address in addresses:
            reason = blocked_reason(ipaddress.ip_address(address))
            if reason:
                raise OutboundUrlError(f"the host resolves to an address that {reason}")
    return PinnedUrl(
        url, parts.scheme, host, parts.port, parts.target, tuple(str(a) for a in addresses)
    )


def check_syntax(url: str, *, allow_private: bool = False) -> None:
    """The checks that need no DNS (for clients validating before sending)."""
    _parse(url, allow_private)


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class _Parts:
    scheme: str
    host: str
    port: int
    target: str


def _parse(url: str, allow_private: bool) -> _Parts:
    if len(url) > MAX_URL_CHARS:
        raise OutboundUrlError(f"is longer than {MAX_URL_CHARS} characters")
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in url):
        raise OutboundUrlError("contains white space or control characters")
    try:
        split = urlsplit(url)
        port = split.port
    except ValueError as error:
        raise OutboundUrlError("is not a valid URL") from error
    scheme = split.scheme.lower()
    allowed = ("https", "http") if allow_private else ("https",)
    if scheme not in allowed:
        raise OutboundUrlError(f"must be an {' or '.join(allowed)} URL")
    if split.username is not None or split.password is not None:
        raise OutboundUrlError("must not carry a user name or password")
    host = split.hostname or ""
    if not host:
        raise OutboundUrlError("names no host")
    if split.fragment:
        raise OutboundUrlError("must not have a fragment")
    target = (split.path or "/") + (f"?{split.query}" if split.query else "")
    return _Parts(scheme, host, port or (443 if scheme == "https" else 80), target)


def _resolve(host: str, port: int, resolve: Resolver) -> list[IPAddress]:
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        return [literal]
    try:
        found = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolve(host, port)]
    except (OSError, UnicodeError, ValueError) as error:
        raise OutboundUrlError("the host name does not resolve") from error
    if not found:
        raise OutboundUrlError("the host name does not resolve")
    return found


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (and routes to), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or (address.packed[:12] == bytes(12) and int(address) > 1):
        return ipaddress.IPv4Address(address.packed[12:])  # NAT64 or IPv4-compatible (::a.b.c.d)
    return None


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, address: str, port: int, timeout_s: float) -> None:
        super().__init__(host, port, timeout=timeout_s)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, address: str, port: int, timeout_s: float) -> None:
        super().__init__(host, port, timeout=timeout_s, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        context = ssl.create_default_context()
        # The certificate must name the host the client wrote, not the address we connect to.
        self.sock = context.wrap_socket(raw, server_hostname=self.host)
