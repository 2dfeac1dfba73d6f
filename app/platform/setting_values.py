"""How each setting's text is read: one parser per kind of value, each raising
``SettingsError`` with what it expected."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.platform.mail import parse_smtp_url


class SettingsError(ValueError):
    """A setting has a value the service cannot run with."""


def boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise SettingsError(f"expected true or false, got {value!r}")


def positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise SettingsError(f"expected a positive number, got {value!r}")
    return number


def seconds(value: str) -> float:
    number = float(value)
    if not 0 < number <= 3600:
        raise SettingsError(f"expected seconds, more than 0 and at most 3600, got {value!r}")
    return number


# The worker's claims last five minutes; an attempt or a conversation longer
# than four of them would end after another worker took its messages over.
DEADLINE_MAX = 240


def deadline(value: str) -> int:
    seconds = positive_int(value)
    if seconds > DEADLINE_MAX:
        raise SettingsError(f"at most {DEADLINE_MAX} seconds, got {value!r}")
    return seconds


def on_off(value: str) -> bool:
    if value.lower() not in ("on", "off"):
        raise SettingsError(f"expected on or off, got {value!r}")
    return value.lower() == "on"


def log_format(value: str) -> str:
    if value.lower() not in ("text", "json"):
        raise SettingsError(f"LOG_FORMAT is text or json, not {value!r}")
    return value.lower()


def months(value: str) -> int:
    number = int(value)
    if number < 0:
        raise SettingsError(f"expected a number of months, 0 or more, got {value!r}")
    return number


def timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SettingsError(f"unknown time zone {value!r}") from exc
    return value


def keys(value: str) -> tuple[str, ...]:
    return tuple(key.strip() for key in value.split(",") if key.strip())


def hosts(value: str) -> tuple[str, ...]:
    """Host names (no scheme, no port); ``*`` for any and ``*.example.com``
    for every subdomain, as Starlette's TrustedHostMiddleware matches them."""
    hosts = tuple(host.strip().lower() for host in value.split(",") if host.strip())
    for host in hosts:
        name = host.removeprefix("*.")
        ipv6 = name.startswith("[") and name.endswith("]")
        port_or_url = any(c in name for c in "/@ ") or (":" in name and not ipv6)
        if host != "*" and ("*" in name or port_or_url or not name):
            raise SettingsError(f"expected host names like shop.example.com, got {host!r}")
    return hosts


def rate(value: str) -> str:
    from limits import parse_many  # the parser slowapi itself uses

    try:
        parse_many(value)
    except ValueError as exc:
        raise SettingsError(f"not a rate limit like '60/minute': {value!r}") from exc
    return value


def smtp_url(value: str) -> str:
    """Checked now, so a typo stops the start instead of the first send."""
    if value.strip():
        parse_smtp_url(value)
    return value.strip()


def mail_from(value: str) -> str:
    from email.headerregistry import AddressHeader
    from email.policy import default

    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise SettingsError("an address cannot hold control characters")
    header = default.header_factory("From", value.strip())
    addresses = header.addresses if isinstance(header, AddressHeader) else ()
    if len(addresses) != 1 or not addresses[0].username or not addresses[0].domain:
        raise SettingsError(
            f"expected one address like 'Shop <noreply@example.com>', got {value!r}"
        )
    if header.defects:
        raise SettingsError(f"not a valid address: {value!r} ({header.defects[0]})")
    return str(header)


def environment(value: str) -> str:
    if value not in {"development", "production"}:
        raise SettingsError("ENVIRONMENT must be development or production")
    return value
