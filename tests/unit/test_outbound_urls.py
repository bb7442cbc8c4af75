"""The outbound-URL guard (shared/outbound_urls.py): only public https addresses in
production, every resolved address checked, the connection pinned to a checked address."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest

from shared.outbound_urls import (
    OutboundUrlError,
    Resolver,
    blocked_reason,
    check_syntax,
    check_url,
)

BLOCKED = [
    "127.0.0.1",
    "127.8.9.10",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",  # the metadata server
    "169.254.0.1",
    "100.64.0.1",  # CGNAT
    "100.127.255.254",
    "0.0.0.0",
    "0.1.2.3",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.10",
    "198.18.0.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd00:ec2::254",  # AWS's IPv6 metadata address: unique-local
    "ff02::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "::127.0.0.1",  # IPv4-compatible
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "2001:db8::1",
    "fec0::1",
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "142.250.74.46", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", BLOCKED)
def test_non_public_addresses_are_blocked(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None


def _resolver(*answers: str) -> Resolver:
    def resolve(host: str, port: int) -> Sequence[str]:
        return list(answers)

    return resolve


def test_a_host_is_refused_when_any_of_its_addresses_is_private() -> None:
    with pytest.raises(OutboundUrlError, match="private"):
        check_url("https://hooks.example.com/x", resolve=_resolver("8.8.8.8", "10.0.0.5"))


def test_a_public_host_is_pinned_to_the_addresses_checked() -> None:
    pinned = check_url(
        "https://hooks.example.com:8443/done?x=1", resolve=_resolver("93.184.215.14")
    )
    assert (pinned.host, pinned.port, pinned.target) == ("hooks.example.com", 8443, "/done?x=1")
    assert pinned.addresses == ("93.184.215.14",)
    connection = pinned.connection(5.0)
    # The TLS name is the host; the socket goes to the address that was checked.
    assert connection.host == "hooks.example.com"
    assert connection._address == "93.184.215.14"  # type: ignore[attr-defined]


def test_dns_rebinding_cannot_swap_the_address() -> None:
    """The first answer is public, later ones point inside: the connection uses the first."""
    answers = iter([["93.184.215.14"], ["127.0.0.1"]])

    def rebinding(host: str, port: int) -> Sequence[str]:
        return next(answers)

    pinned = check_url("https://rebind.example/", resolve=rebinding)
    assert pinned.connection(1.0)._address == "93.184.215.14"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://hooks.example.com/", "https"),
        ("ftp://hooks.example.com/", "https"),
        ("https://user:pw@hooks.example.com/", "user name"),
        ("https:///nohost", "host"),
        ("https://hooks.example.com/a b", "white space"),
        ("https://hooks.example.com:99999/", "valid URL"),
        ("https://metadata.google.internal/computeMetadata/v1/", "metadata"),
        ("https://127.0.0.1/", "loopback"),
        ("https://[::1]/", "loopback"),
        ("https://[::ffff:10.0.0.1]/", "private"),
        ("https://169.254.169.254/", "link-local"),
    ],
)
def test_refusals_name_the_problem(url: str, problem: str) -> None:
    with pytest.raises(OutboundUrlError, match=problem):
        check_url(url, resolve=_resolver("93.184.215.14"))


def test_a_name_that_does_not_resolve_is_refused() -> None:
    def failing(host: str, port: int) -> Sequence[str]:
        raise OSError("no such host")

    with pytest.raises(OutboundUrlError, match="resolve"):
        check_url("https://nowhere.invalid/", resolve=failing)


def test_the_local_stack_setting_allows_http_and_local_addresses() -> None:
    pinned = check_url("http://127.0.0.1:8123/hook", allow_private=True)
    assert (pinned.scheme, pinned.addresses) == ("http", ("127.0.0.1",))
    check_syntax("http://localhost:1/", allow_private=True)
    with pytest.raises(OutboundUrlError):
        check_syntax("http://localhost:1/")
