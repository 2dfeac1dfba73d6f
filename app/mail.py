"""Sending e-mail: the SMTP settings, one transport that speaks SMTP and one
that writes ``.eml`` files for development.

The standard library's ``smtplib`` does the sending: the worker is a plain
synchronous loop in a process of its own, so an async client would buy
nothing, and no dependency is added. A transport reports one ``Delivery``
per message and never raises for a message that could not be sent: the
caller decides what a transient or permanent failure means for its rows.
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import socket
import ssl
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

if TYPE_CHECKING:
    from app.settings import Settings

log = logging.getLogger(__name__)

SECURITY = ("none", "starttls", "tls")
DEFAULT_PORTS = {"none": 25, "starttls": 587, "tls": 465}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str | None
    password: str | None = field(repr=False)  # kept out of logs and tracebacks
    security: str  # "none" | "starttls" | "tls"


def parse_smtp_url(url: str) -> SmtpConfig:
    """``smtp://user:pass@host:port``, ``smtps://`` for implicit TLS,
    ``?starttls=1`` for STARTTLS; user and password percent-decoded."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        # urllib's message may quote part of the password: none of it is repeated.
        raise ValueError(
            "not an SMTP URL like smtp://user:pass@host:587?starttls=1 (the port must be "
            "a number from 1 to 65535; percent-encode '/', '@' and ':' in user and password)"
        ) from None
    if port == 0:
        raise ValueError("the SMTP port must be a number from 1 to 65535")
    if parts.scheme not in {"smtp", "smtps"}:
        raise ValueError("an SMTP URL starts with smtp:// or smtps://")
    if not parts.hostname:
        raise ValueError("the SMTP URL names no host")
    if parts.path not in {"", "/"} or parts.fragment:
        raise ValueError("an SMTP URL has no path: smtp://user:pass@host:port")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = set(query) - {"starttls"}
    if unknown:
        raise ValueError(f"unknown SMTP URL option {sorted(unknown)[0]!r}; only starttls is known")
    starttls_value = (query.get("starttls") or [""])[-1].lower()
    if starttls_value not in _TRUE | _FALSE:
        raise ValueError(f"starttls must be 1 or 0, got {starttls_value!r}")
    starttls = starttls_value in _TRUE
    if parts.scheme == "smtps" and starttls:
        raise ValueError("smtps:// is TLS from the start; starttls=1 applies to smtp:// only")
    security = "tls" if parts.scheme == "smtps" else ("starttls" if starttls else "none")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and username is None:
        raise ValueError("the SMTP URL has a password but no user name")
    if not (username or "").isascii() or not (password or "").isascii():
        # smtplib sends credentials as ASCII only; better said now than at the first send.
        raise ValueError("the SMTP user name and password must be ASCII")
    return SmtpConfig(
        host=parts.hostname,
        port=port or DEFAULT_PORTS[security],
        username=username,
        password=password,
        security=security,
    )


@dataclass(frozen=True)
class Delivery:
    status: str  # "sent" | "transient" | "permanent"
    detail: str = ""  # the server's code and text, or the error; never a password


class Transport(Protocol):
    def send_batch(self, messages: Sequence[EmailMessage]) -> list[Delivery]:
        """One result per message, in order."""
        ...


class _ConnectionLost(Exception):
    """The connection cannot carry another message; ``delivery`` is the
    result of the message in hand when it was refused before the loss."""

    def __init__(self, reason: str, delivery: Delivery | None = None) -> None:
        super().__init__(reason)
        self.delivery = delivery


def _reply(code: int, text: bytes | str) -> str:
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {' '.join(message.split())}".strip()


# Replies that say this service has not logged in as the server wants: the
# operator's mistake, like a refused login, so the message waits for a fix.
_AUTH_CODES = frozenset({530, 534, 535, 538})


def _by_code(code: int) -> str:
    return "permanent" if 500 <= code <= 599 and code not in _AUTH_CODES else "transient"


class SmtpTransport:
    """Sends each batch over one SMTP connection."""

    def __init__(
        self,
        config: SmtpConfig,
        timeout: float = 30,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.config = config
        self.timeout = timeout
        self.ssl_context = ssl_context or ssl.create_default_context()

    def send_batch(self, messages: Sequence[EmailMessage]) -> list[Delivery]:
        if not messages:
            return []
        try:
            client = self._open()
        except (OSError, smtplib.SMTPException) as exc:
            # Refused credentials (535) are the operator's mistake, not the
            # recipient's: transient, so the messages wait for a fix instead of
            # failing and giving their counts back.
            detail = f"no session with {self.config.host}:{self.config.port}: {_describe(exc)}"
            log.warning("SMTP %s", detail)
            return [Delivery("transient", detail)] * len(messages)
        results: list[Delivery] = []
        try:
            for message in messages:
                try:
                    results.append(self._send_one(client, message))
                except _ConnectionLost as lost:
                    # Never sent again within the batch: whether the server kept
                    # the message is unknown, so the caller retries it later and
                    # the stable Message-ID lets receivers drop a repeat.
                    log.warning("SMTP connection lost: %s", lost)
                    results.append(lost.delivery or Delivery("transient", str(lost)))
                    later = Delivery("transient", f"not tried: the connection was lost ({lost})")
                    results.extend(later for _ in messages[len(results) :])
                    break
        finally:
            _quit(client)
        return results

    def _open(self) -> smtplib.SMTP:
        config = self.config
        client: smtplib.SMTP
        if config.security == "tls":
            client = smtplib.SMTP_SSL(
                config.host, config.port, timeout=self.timeout, context=self.ssl_context
            )
        else:
            client = smtplib.SMTP(config.host, config.port, timeout=self.timeout)
        try:
            client.ehlo()
            if config.security == "starttls":
                # Raises when the server offers no STARTTLS: never fall back to
                # sending credentials and messages in the clear.
                client.starttls(context=self.ssl_context)
                client.ehlo()
            if config.username is not None:
                client.login(config.username, config.password or "")
        except BaseException:
            _quit(client)
            raise
        return client

    def _send_one(self, client: smtplib.SMTP, message: EmailMessage) -> Delivery:
        try:
            refused = client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [_by_code(code) for code, _ in exc.recipients.values()]
            status = "permanent" if codes and set(codes) == {"permanent"} else "transient"
            detail = "; ".join(_reply(code, text) for code, text in exc.recipients.values())
            delivery = Delivery(status, detail)
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            delivery = Delivery(_by_code(exc.smtp_code), _reply(exc.smtp_code, exc.smtp_error))
        except smtplib.SMTPNotSupportedError as exc:
            # The address needs SMTPUTF8, which this server does not offer.
            delivery = Delivery("permanent", str(exc))
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise _ConnectionLost(_describe(exc)) from exc
        except smtplib.SMTPResponseException as exc:
            delivery = Delivery(_by_code(exc.smtp_code), _reply(exc.smtp_code, exc.smtp_error))
        except smtplib.SMTPException as exc:
            delivery = Delivery("transient", _describe(exc))
        except ValueError as exc:
            # No sender or recipient, or several Resent- blocks: no retry helps.
            delivery = Delivery("permanent", f"the message cannot be sent: {exc}")
        else:
            detail = "; ".join(_reply(code, text) for code, text in refused.values())
            return Delivery("sent", detail)
        # smtplib resets after a refusal already; this RSET also proves the
        # connection still stands before the next message is handed to it.
        try:
            client.rset()
        except (smtplib.SMTPException, OSError) as exc:
            raise _ConnectionLost(_describe(exc), delivery) from exc
        return delivery


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return _reply(exc.smtp_code, exc.smtp_error)
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _quit(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


# -- development -------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]+")


def file_name(message: EmailMessage) -> str:
    """``{Message-ID}.eml`` with every character a file name should not hold
    replaced, so a repeat of one message overwrites its file."""
    message_id = (message.get("Message-ID") or "").strip().strip("<>")
    stem = _UNSAFE.sub("_", message_id).strip("._")[:200] or uuid.uuid4().hex
    return f"{stem}.eml"


class OutboxTransport:
    """Writes each message as an ``.eml`` file any mail program opens."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send_batch(self, messages: Sequence[EmailMessage]) -> list[Delivery]:
        self.directory.mkdir(parents=True, exist_ok=True)
        results = []
        for message in messages:
            path = self.directory / file_name(message)
            # Written beside its place and renamed, so a reader never sees half a file.
            handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(message.as_bytes())
                os.replace(temporary, path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
            results.append(Delivery("sent", str(path)))
        return results


def transport_for(settings: Settings) -> Transport:
    """SMTP when ``SMTP_URL`` is set, else files under ``var/outbox/``."""
    if settings.smtp is not None:
        return SmtpTransport(settings.smtp)
    return OutboxTransport(settings.var_dir / "outbox")
