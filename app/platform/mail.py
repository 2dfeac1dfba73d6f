"""Sending e-mail: the SMTP settings, one transport that speaks SMTP and one
that writes ``.eml`` files for development.

The standard library's ``smtplib`` does the sending: the worker is a plain
synchronous loop in a process of its own, so an async client would buy
nothing, and no dependency is added. A transport reports one ``Delivery``
per message and never raises for a message that could not be sent: the
caller decides what a transient or permanent failure means for its rows.

A conversation, connect to QUIT, has a deadline: ``smtplib``'s timeout counts
per read, so a server that drips its banner a byte at a time would hold the
worker for ever. At the deadline the connection is shut down under smtplib's
feet; the message in hand and those after it are transient failures.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import smtplib
import socket
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

SECURITY = ("none", "starttls", "tls")
DEFAULT_PORTS = {"none": 25, "starttls": 587, "tls": 465}
TIMEOUT = 30.0  # seconds for one read or write
# Seconds for one conversation, a batch of up to 50 messages: even a slow
# relay takes well under a second a message; a server slower than this is
# not working, and the batch is tried again later.
DEADLINE = 120.0
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
    def send_batch(
        self, messages: Sequence[EmailMessage], until: float | None = None
    ) -> list[Delivery]:
        """One result per message, in order; nothing is being sent any more
        at ``until`` (a ``time.monotonic()`` instant), if given."""
        ...


class _Deadline:
    """Shuts a conversation's connection down when its time is up. It holds
    a duplicate of the socket's descriptor: ``shutdown`` on it ends the
    connection itself, whatever smtplib or TLS has wrapped around the
    original since, and wakes a read a dripping server keeps alive."""

    def __init__(self, at: float, reason: str) -> None:
        self.at = at
        self.reason = reason  # what a message cut off says
        self.passed = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, at - time.monotonic()), self._cut)
        self._timer.daemon = True
        self._timer.start()

    def left(self) -> float:
        return self.at - time.monotonic()

    def explain(self, failure: str) -> str:
        """What a failure at this moment says: the deadline, once it passed."""
        return self.reason if self.passed or self.left() <= 0 else failure

    def watch(self, sock: socket.socket) -> None:
        copy = sock.dup()
        with self._lock:
            self._sockets.append(copy)
            if not self.passed:
                return
        _shut(copy)

    def _cut(self) -> None:
        with self._lock:
            self.passed = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)

    def close(self) -> None:
        self._timer.cancel()
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # closed already
        sock.shutdown(socket.SHUT_RDWR)


def _connect(guard: _Deadline, host: str, port: int, timeout: float) -> socket.socket:
    """smtplib's own connect, watched by ``guard`` from the first byte."""
    if guard.left() <= 0:
        raise TimeoutError("the deadline passed before connecting")
    sock = socket.create_connection((host, port), min(timeout, guard.left()))
    sock.settimeout(timeout)  # each read; the guard bounds them all
    guard.watch(sock)
    return sock


class _GuardedSMTP(smtplib.SMTP):
    """smtplib's client, its connection watched by a deadline."""

    guard: _Deadline
    _host: str  # smtplib's: the name STARTTLS checks the certificate for

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return _connect(self.guard, host, port, timeout)


class _GuardedSMTP_SSL(smtplib.SMTP_SSL):
    guard: _Deadline
    _host: str

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        # Watched before the TLS handshake, which a server may drip too.
        sock = _connect(self.guard, host, port, timeout)
        return self.context.wrap_socket(sock, server_hostname=host)


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
        timeout: float = TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
        deadline: float = DEADLINE,
    ) -> None:
        self.config = config
        self.timeout = timeout
        self.deadline = deadline
        self.ssl_context = ssl_context or ssl.create_default_context()

    def send_batch(
        self, messages: Sequence[EmailMessage], until: float | None = None
    ) -> list[Delivery]:
        if not messages:
            return []
        at = time.monotonic() + self.deadline
        if until is not None and until < at:
            guard = _Deadline(until, "cut off: the batch's lease was running out")
        else:
            guard = _Deadline(at, f"cut off: the conversation passed its {self.deadline:g} s")
        try:
            return self._converse(guard, messages)
        finally:
            guard.close()

    def _converse(self, guard: _Deadline, messages: Sequence[EmailMessage]) -> list[Delivery]:
        try:
            client = self._open(guard)
        except (OSError, smtplib.SMTPException) as exc:
            # Refused credentials (535) are the operator's mistake, not the
            # recipient's: transient, so the messages wait for a fix instead of
            # failing and giving their counts back.
            reason = guard.explain(_describe(exc))
            detail = f"no session with {self.config.host}:{self.config.port}: {reason}"
            log.warning("SMTP %s", detail)
            return [Delivery("transient", detail)] * len(messages)
        results: list[Delivery] = []
        try:
            for message in messages:
                try:
                    if guard.left() <= 0:
                        raise _ConnectionLost(guard.reason)
                    results.append(self._send_one(client, message))
                except _ConnectionLost as lost:
                    # Never sent again within the batch: whether the server kept
                    # the message is unknown, so the caller retries it later and
                    # the stable Message-ID lets receivers drop a repeat.
                    reason = guard.explain(str(lost))
                    log.warning("SMTP connection lost: %s", reason)
                    results.append(lost.delivery or Delivery("transient", reason))
                    later = Delivery("transient", f"not tried: the connection was lost ({reason})")
                    results.extend(later for _ in messages[len(results) :])
                    break
        finally:
            _quit(client)
        return results

    def _open(self, guard: _Deadline) -> smtplib.SMTP:
        config = self.config
        client: _GuardedSMTP | _GuardedSMTP_SSL
        if config.security == "tls":
            client = _GuardedSMTP_SSL(timeout=self.timeout, context=self.ssl_context)
        else:
            client = _GuardedSMTP(timeout=self.timeout)
        client.guard = guard
        # Made without a host, so that the guard is in place before connecting;
        # smtplib would have kept the host's name for STARTTLS itself.
        client._host = config.host
        try:
            code, reply = client.connect(config.host, config.port)
            if code != 220:
                raise smtplib.SMTPConnectError(code, reply)
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

    def send_batch(
        self, messages: Sequence[EmailMessage], until: float | None = None
    ) -> list[Delivery]:
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
