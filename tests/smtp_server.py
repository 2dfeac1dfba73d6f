"""A real SMTP server for tests: aiosmtpd in a thread of its own, on a free
port of 127.0.0.1, that records what it accepts and can be told to fail.

The fixtures ``smtp_server`` and ``smtp_cert`` are registered in
``tests/conftest.py``, so every test can ask for them::

    def test_sends(smtp_server: SmtpServer) -> None:
        ...  # send to smtp_server.url()
        assert smtp_server.received[0].message["To"] == "ana@example.com"

``smtp_server`` is plain SMTP without login. For TLS or a login, start one::

    with running_smtp_server(tls="starttls", cert=smtp_cert, login=("u", "pw")) as server:
        SmtpTransport(parse_smtp_url(server.url("u", "pw")), ssl_context=smtp_cert.client_context())

What a server can be told (each instruction is used up as it applies):

- ``server.answer_next("RCPT", 451, count=2)``: the next two RCPT (or MAIL,
  DATA) commands get that reply instead of being accepted.
- ``server.drop_after(2)``: accept two more messages, then close the
  connection while the third one's DATA waits for its reply (that message is
  not recorded). ``at="MAIL"`` closes at its MAIL command instead.
- ``server.data_delay = 1.0``: every message's DATA is answered (and the
  message recorded) only after that many seconds, as a slow relay does.

``server.received`` lists the accepted messages in order (``Received``),
``server.connections`` counts client connections and ``server.logins`` the
user names that logged in.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from tests.servers import free_port

COMMANDS = ("MAIL", "RCPT", "DATA")
TEXTS = {4: "Try again later", 5: "Refused"}


@dataclass(frozen=True)
class Received:
    """One accepted message: its envelope, its bytes, the connection's number."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    connection: int

    @property
    def message(self) -> EmailMessage:
        return cast(EmailMessage, message_from_bytes(self.data, policy=policy.default))


@dataclass(frozen=True)
class SelfSignedCert:
    """A self-signed certificate for 127.0.0.1 and localhost."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this certificate and checks the host."""
        return ssl.create_default_context(cafile=str(self.cert))


def make_certificate(directory: Path) -> SelfSignedCert:
    from tests.conftest import require  # conftest imports this module

    require(shutil.which("openssl") is not None, "openssl is not installed")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=localhost",
            "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-keyout", str(key), "-out", str(cert),
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return SelfSignedCert(cert, key)


class _NumberedSMTP(SMTP):
    """aiosmtpd's protocol with the number of its connection."""

    connection = 0


@dataclass
class _Script:
    replies: dict[str, list[str]] = field(default_factory=lambda: {c: [] for c in COMMANDS})
    drop_in: int | None = None  # messages still to accept before the drop
    drop_at: str = "DATA"


class SmtpServer:
    """The handler aiosmtpd calls, and what a test reads and scripts."""

    def __init__(self, *, tls: str, login: tuple[str, str] | None) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.tls = tls
        self.received: list[Received] = []
        self.logins: list[str] = []
        self.connections = 0
        self.data_delay = 0.0
        self._login = login
        self._script = _Script()
        self._lock = threading.Lock()

    # -- what tests call -----------------------------------------------------

    def url(self, user: str | None = None, password: str | None = None) -> str:
        """This server's ``SMTP_URL``, with a login when given."""
        scheme = "smtps" if self.tls == "tls" else "smtp"
        credentials = ""
        if user is not None:
            credentials = quote(user, safe="")
            if password is not None:
                credentials += ":" + quote(password, safe="")
            credentials += "@"
        query = "?starttls=1" if self.tls == "starttls" else ""
        return f"{scheme}://{credentials}{self.host}:{self.port}{query}"

    def answer_next(self, command: str, code: int, count: int = 1, text: str | None = None) -> None:
        """Reply ``code`` to the next ``count`` MAIL, RCPT or DATA commands."""
        if command not in COMMANDS:
            raise ValueError(f"scriptable commands are {COMMANDS}")
        reply = f"{code} {text or TEXTS.get(code // 100, 'Scripted reply')}"
        with self._lock:
            self._script.replies[command].extend([reply] * count)

    def drop_after(self, accepted: int, at: str = "DATA") -> None:
        """Accept ``accepted`` more messages, then close the connection at the
        next message's ``at`` command (DATA or MAIL) without replying."""
        if at not in {"MAIL", "DATA"}:
            raise ValueError("a connection is dropped at MAIL or DATA")
        with self._lock:
            self._script.drop_in, self._script.drop_at = accepted, at

    @property
    def addresses(self) -> list[str]:
        """Every accepted recipient, in order."""
        return [address for item in self.received for address in item.rcpt_tos]

    # -- aiosmtpd's side -----------------------------------------------------

    def _scripted(self, server: SMTP, command: str) -> str | None:
        """The scripted reply for ``command``, "" after dropping the connection,
        or None to go on normally."""
        with self._lock:
            script = self._script
            if script.drop_in == 0 and script.drop_at == command:
                script.drop_in = None
                if server.transport is not None:
                    server.transport.close()
                return ""
            replies = script.replies[command]
            return replies.pop(0) if replies else None

    async def handle_MAIL(
        self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        scripted = self._scripted(server, "MAIL")
        if scripted is not None:
            return scripted or "421 Closing"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        scripted = self._scripted(server, "RCPT")
        if scripted is not None:
            return scripted
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        scripted = self._scripted(server, "DATA")
        if scripted is not None:
            return scripted or "421 Closing"
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        number = server.connection if isinstance(server, _NumberedSMTP) else 0
        with self._lock:
            self.received.append(
                Received(
                    envelope.mail_from, tuple(envelope.rcpt_tos), bytes(envelope.content), number
                )
            )
            if self._script.drop_in:
                self._script.drop_in -= 1
        return "250 Message accepted"

    def authenticate(
        self, server: SMTP, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword) or self._login is None:
            return AuthResult(success=False, handled=False)
        user, password = data.login.decode(), data.password.decode()
        if (user, password) != self._login:
            return AuthResult(success=False, handled=False)
        with self._lock:
            self.logins.append(user)
        return AuthResult(success=True)


class _Controller(Controller):
    def __init__(self, smtp: SmtpServer, **kwargs: Any) -> None:
        super().__init__(smtp, hostname=smtp.host, port=smtp.port, **kwargs)
        self.smtp = smtp

    def factory(self) -> SMTP:
        protocol = _NumberedSMTP(self.handler, **self.SMTP_kwargs)
        self.smtp.connections += 1
        protocol.connection = self.smtp.connections
        return protocol


@contextmanager
def running_smtp_server(
    *,
    tls: str = "none",
    cert: SelfSignedCert | None = None,
    login: tuple[str, str] | None = None,
) -> Iterator[SmtpServer]:
    """A started server: ``tls`` is "none", "starttls" (offered and required)
    or "tls" (TLS from the first byte, which needs ``cert``); ``login``
    requires AUTH with that user and password."""
    if tls not in {"none", "starttls", "tls"}:
        raise ValueError("tls is none, starttls or tls")
    if tls != "none" and cert is None:
        raise ValueError("TLS needs a certificate: use the smtp_cert fixture")
    smtp = SmtpServer(tls=tls, login=login)
    options: dict[str, Any] = {"server_hostname": "localhost", "data_size_limit": 10_000_000}
    if tls == "starttls" and cert is not None:
        options.update(tls_context=cert.server_context(), require_starttls=True)
    if tls == "tls" and cert is not None:
        options["ssl_context"] = cert.server_context()
    if login is not None:
        options.update(
            auth_required=True,
            auth_require_tls=tls == "starttls",
            authenticator=smtp.authenticate,
        )
    controller = _Controller(smtp, **options)
    controller.start()
    smtp.connections = 0  # the controller's own check at start is not a client
    try:
        yield smtp
    finally:
        controller.stop()


@pytest.fixture(scope="session")
def smtp_cert(tmp_path_factory: pytest.TempPathFactory) -> SelfSignedCert:
    return make_certificate(tmp_path_factory.mktemp("smtp-cert"))


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server
