"""Where a webhook may go: an http(s) URL whose host resolves, in production, to
public addresses only, checked again right before each attempt."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

URL_MAX = 2048


class TargetRefused(ValueError):
    """A URL that may not be called; ``code`` names the reason for pages."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


Resolver = Callable[[str, int], list[str]]


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def public_address(raw: str) -> bool:
    """False for private, loopback, link-local, multicast, reserved and
    unspecified addresses. An IPv6 address that carries an IPv4 one
    (IPv4-mapped, 6to4, Teredo, NAT64) is judged by that as well."""
    address = ipaddress.ip_address(raw.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address):
        embedded: list[ipaddress.IPv4Address] = []
        if address.ipv4_mapped is not None:
            embedded.append(address.ipv4_mapped)
        if address.sixtofour is not None:
            embedded.append(address.sixtofour)
        if address.teredo is not None:
            embedded.extend(address.teredo)
        if address in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if any(not public_address(str(inner)) for inner in embedded):
            return False
        if address.ipv4_mapped is not None:
            return True  # judged by its IPv4 address alone
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


@dataclass(frozen=True)
class Target:
    """Where to connect: ``address`` is the checked IP (None in development,
    where the URL's host is used as it is)."""

    url: str
    host: str
    port: int
    address: str | None


def check_url(url: str, production: bool) -> tuple[str, int]:
    """The URL's host and port, or ``TargetRefused`` for one no endpoint may
    have: not http(s), https required in production, credentials in it."""
    if len(url) > URL_MAX:
        raise TargetRefused(f"a URL has at most {URL_MAX} characters", "url_too_long")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise TargetRefused("not a URL", "url_invalid") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("not an http(s) URL", "url_invalid")
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise TargetRefused("not a URL", "url_invalid")
    if production and parts.scheme != "https":
        raise TargetRefused("webhook URLs must use https://", "https_required")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("a webhook URL carries no user name or password", "url_credentials")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def target(url: str, production: bool, resolver: Resolver = resolve) -> Target:
    """Check ``url`` for a call now. In production the host is resolved and
    every address must be public; the caller connects to the address checked
    here, so a DNS answer that changes in between (rebinding) is not used."""
    host, port = check_url(url, production)
    if not production:
        return Target(url, host, port, None)
    try:
        addresses = resolver(host, port)
    except (OSError, UnicodeError):
        raise TargetRefused(f"{host} does not resolve", "unresolvable") from None
    if not addresses:
        raise TargetRefused(f"{host} does not resolve", "unresolvable")
    for address in addresses:
        if not public_address(address):
            raise TargetRefused(
                f"{host} resolves to {address}, a private or reserved address",
                "private_address",
            )
    return Target(url, host, port, addresses[0])
