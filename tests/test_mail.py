"""Sending e-mail against a real SMTP server (aiosmtpd), the development
outbox, the SMTP settings, and the invitation and budget alert messages."""

from __future__ import annotations

import re
import socket
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from app.budget.alerts import budget_alert_message
from app.invitations.messages import invitation_message
from app.platform.mail import Delivery, OutboxTransport, SmtpConfig, SmtpTransport, parse_smtp_url
from app.platform.settings import Settings, SettingsError, from_env
from app.surveys.model import Survey
from app.worker import transport_for
from tests.smtp_server import SelfSignedCert, SmtpServer, running_smtp_server

BASE = "https://feedback.example.com"
# As long as a real signed invitation key, so headers would fold.
KEY = "eyJpIjo0Mn0.ZmVlZGJhY2s" + "AbCdEfGh" * 6


def survey(kind: str = "nps", texts: dict[str, Any] | None = None) -> Survey:
    return Survey(
        id=1,
        account_id=1,
        public_id="pub",
        name="After the order",
        kind=kind,
        language="auto",
        texts=texts or {},
        allowed_origins=(),
        active=True,
        delay_ms=0,
        recontact_days=0,
        sample_rate=1.0,
        color="#1f5fbf",
        position="bottom-right",
        review_url=None,
        review_audience="all",
    )


def score_url(score: int) -> str:
    return f"{BASE}/s/{KEY}?score={score}"


def invitation(**changes: Any) -> EmailMessage:
    values: dict[str, Any] = {
        "survey": survey(),
        "language": "en",
        "to": "ana@example.com",
        "name": "Ana Lima",
        "sender": "nps-beacon <noreply@feedback.example.com>",
        "account_name": "Corner Shop",
        "score_url": score_url,
        "unsubscribe_url": f"{BASE}/u/{KEY}",
        "message_id": "<invitation-42.abc@feedback.example.com>",
    }
    values.update(changes)
    return invitation_message(**values)


def note(number: int, to: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "noreply@feedback.example.com"
    message["To"] = to or f"person{number}@example.com"
    message["Subject"] = f"Note {number}"
    message["Message-ID"] = f"<note-{number}@feedback.example.com>"
    message.set_content(f"Note number {number}.")
    return message


def transport(server: SmtpServer, **options: Any) -> SmtpTransport:
    return SmtpTransport(parse_smtp_url(server.url()), timeout=10, **options)


def statuses(results: list[Delivery]) -> list[str]:
    return [result.status for result in results]


def subjects(server: SmtpServer) -> list[str]:
    return [str(item.message["Subject"]) for item in server.received]


# -- settings ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.com", SmtpConfig("mail.example.com", 25, None, None, "none")),
        ("smtps://mail.example.com", SmtpConfig("mail.example.com", 465, None, None, "tls")),
        (
            "smtp://mail.example.com?starttls=1",
            SmtpConfig("mail.example.com", 587, None, None, "starttls"),
        ),
        (
            "smtp://news%40shop.example:p%40ss%3Aw%2Frd@mail.example.com:2525?starttls=true",
            SmtpConfig("mail.example.com", 2525, "news@shop.example", "p@ss:w/rd", "starttls"),
        ),
        (
            "smtps://user:@mail.example.com:1465",
            SmtpConfig("mail.example.com", 1465, "user", "", "tls"),
        ),
    ],
)
def test_smtp_urls_are_parsed(url: str, expected: SmtpConfig) -> None:
    assert parse_smtp_url(url) == expected
    assert from_env({"SECRET_KEYS": "k", "SMTP_URL": url}).smtp == expected


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://mail.example.com", "smtp:// or smtps://"),
        ("smtp://", "no host"),
        ("smtp://mail.example.com:99999", "port"),
        ("smtp://mail.example.com:0", "port"),
        ("smtp://user:se/cret@mail.example.com", "port"),
        ("smtp://mail.example.com/inbox", "no path"),
        ("smtp://mail.example.com?tls=1", "only starttls"),
        ("smtp://mail.example.com?starttls=maybe", "1 or 0"),
        ("smtps://mail.example.com?starttls=1", "smtp:// only"),
        ("smtp://:secret@mail.example.com", "no user name"),
        ("smtp://user:s%C3%BCcret@mail.example.com", "ASCII"),
    ],
)
def test_bad_smtp_urls_are_refused_at_start_without_the_password(url: str, reason: str) -> None:
    with pytest.raises(SettingsError, match="SMTP_URL") as caught:
        from_env({"SECRET_KEYS": "k", "SMTP_URL": url})
    assert reason in str(caught.value)
    assert "cret" not in str(caught.value)


@pytest.mark.parametrize(
    "value", ["nobody", "a@example.com, b@example.com", "Shop <noreply@>", "Shop\r\nBcc: x@y.z"]
)
def test_mail_from_must_be_one_address(value: str) -> None:
    with pytest.raises(SettingsError, match="MAIL_FROM"):
        from_env({"SECRET_KEYS": "k", "MAIL_FROM": value})


def test_mail_settings_defaults_and_production_without_smtp() -> None:
    settings = from_env({"SECRET_KEYS": "k", "ENVIRONMENT": "production"})
    assert settings.smtp is None
    assert settings.mail_from == "nps-beacon <noreply@localhost>"
    named = from_env({"SECRET_KEYS": "k", "MAIL_FROM": '"Shop, Inc." <feedback@shop.example>'})
    assert named.mail_from == '"Shop, Inc." <feedback@shop.example>'


def test_the_smtp_password_stays_out_of_reprs() -> None:
    settings = from_env({"SECRET_KEYS": "k", "SMTP_URL": "smtp://u:Hunter2Pw@mail.example.com"})
    assert settings.smtp is not None and settings.smtp.password == "Hunter2Pw"
    assert "Hunter2Pw" not in repr(settings)
    assert "Hunter2Pw" not in repr(settings.smtp)


def test_transport_follows_the_settings(tmp_path: Path) -> None:
    outbox = transport_for(Settings(var_dir=tmp_path))
    assert isinstance(outbox, OutboxTransport) and outbox.directory == tmp_path / "outbox"
    smtp = transport_for(Settings(smtp_url="smtps://mail.example.com", var_dir=tmp_path))
    assert isinstance(smtp, SmtpTransport) and smtp.config.security == "tls"


# -- sending over SMTP -------------------------------------------------------------


def test_a_batch_goes_over_one_connection(smtp_server: SmtpServer) -> None:
    results = transport(smtp_server).send_batch([note(1), note(2), note(3)])
    assert statuses(results) == ["sent", "sent", "sent"]
    assert subjects(smtp_server) == ["Note 1", "Note 2", "Note 3"]
    assert smtp_server.addresses == [f"person{n}@example.com" for n in (1, 2, 3)]
    assert smtp_server.connections == 1
    assert transport(smtp_server).send_batch([]) == []


@pytest.mark.parametrize("command", ["MAIL", "RCPT", "DATA"])
@pytest.mark.parametrize(("code", "status"), [(451, "transient"), (550, "permanent")])
def test_refusals_are_classified_and_the_batch_goes_on(
    smtp_server: SmtpServer, command: str, code: int, status: str
) -> None:
    smtp_server.answer_next(command, code, text="Scripted refusal")
    results = transport(smtp_server).send_batch([note(1), note(2), note(3)])
    assert statuses(results) == [status, "sent", "sent"]
    assert results[0].detail.startswith(str(code)) and "Scripted refusal" in results[0].detail
    assert subjects(smtp_server) == ["Note 2", "Note 3"]
    assert smtp_server.connections == 1


def test_refusals_in_the_middle_of_a_batch(smtp_server: SmtpServer) -> None:
    transport(smtp_server).send_batch([note(1)])  # the scripts below apply to what follows
    smtp_server.answer_next("RCPT", 550, text="No such user")
    smtp_server.answer_next("DATA", 452, count=2, text="Mailbox full")
    results = transport(smtp_server).send_batch([note(n) for n in range(2, 7)])
    assert statuses(results) == ["permanent", "transient", "transient", "sent", "sent"]
    assert subjects(smtp_server) == ["Note 1", "Note 5", "Note 6"]


@pytest.mark.parametrize("at", ["DATA", "MAIL"])
def test_a_dropped_connection_leaves_the_rest_transient(smtp_server: SmtpServer, at: str) -> None:
    smtp_server.drop_after(2, at=at)
    results = transport(smtp_server).send_batch([note(n) for n in range(1, 6)])
    assert statuses(results) == ["sent", "sent", "transient", "transient", "transient"]
    assert "not tried" in results[3].detail and "not tried" not in results[2].detail
    # Nothing was sent twice, and the caller's later retry delivers the rest.
    assert subjects(smtp_server) == ["Note 1", "Note 2"]
    retry = transport(smtp_server).send_batch([note(n) for n in range(3, 6)])
    assert statuses(retry) == ["sent", "sent", "sent"]
    assert subjects(smtp_server) == [f"Note {n}" for n in range(1, 6)]


def test_a_421_closing_the_connection_ends_the_batch(smtp_server: SmtpServer) -> None:
    # smtplib closes the connection itself on 421; the rest must wait.
    smtp_server.answer_next("RCPT", 421, text="Too busy")
    results = transport(smtp_server).send_batch([note(1), note(2)])
    assert statuses(results) == ["transient", "transient"]
    assert results[0].detail.startswith("421")
    assert smtp_server.received == []


def test_no_server_means_every_message_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        config = SmtpConfig("127.0.0.1", port, None, None, "none")
        results = SmtpTransport(config, timeout=5).send_batch([note(1), note(2)])
    assert statuses(results) == ["transient", "transient"]
    assert "no session with 127.0.0.1" in results[0].detail


def test_a_silent_server_times_out_as_transient() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()  # accepts in the kernel, never greets
        config = SmtpConfig("127.0.0.1", listener.getsockname()[1], None, None, "none")
        results = SmtpTransport(config, timeout=0.5).send_batch([note(1)])
    assert statuses(results) == ["transient"]
    assert "timed out" in results[0].detail


def test_login_with_percent_encoded_credentials() -> None:
    password = "p@ss:w/rd %+"
    with running_smtp_server(login=("news@shop.example", password)) as server:
        config = parse_smtp_url(server.url("news@shop.example", password))
        results = SmtpTransport(config, timeout=10).send_batch([note(1), note(2)])
        assert statuses(results) == ["sent", "sent"]
        assert server.logins == ["news@shop.example"]


def test_a_refused_login_keeps_the_messages_waiting() -> None:
    with running_smtp_server(login=("user", "right-password")) as server:
        wrong = parse_smtp_url(server.url("user", "Wrong-Password-42"))
        results = SmtpTransport(wrong, timeout=10).send_batch([note(1), note(2)])
        assert statuses(results) == ["transient", "transient"]
        assert "535" in results[0].detail
        assert all("Wrong-Password-42" not in result.detail for result in results)
        # Without a login the server refuses every MAIL with 530: the
        # operator's mistake too, not the recipients'.
        anonymous = parse_smtp_url(server.url())
        refused = SmtpTransport(anonymous, timeout=10).send_batch([note(3), note(4)])
        assert server.received == [] and server.logins == []
    assert statuses(refused) == ["transient", "transient"]
    assert refused[0].detail.startswith("530")


def test_starttls_with_login_delivers(smtp_cert: SelfSignedCert) -> None:
    with running_smtp_server(tls="starttls", cert=smtp_cert, login=("user", "pw")) as server:
        config = parse_smtp_url(server.url("user", "pw"))
        assert config.security == "starttls"
        sender = SmtpTransport(config, timeout=10, ssl_context=smtp_cert.client_context())
        assert statuses(sender.send_batch([note(1), note(2)])) == ["sent", "sent"]
        assert subjects(server) == ["Note 1", "Note 2"]
        assert server.logins == ["user"]


def test_implicit_tls_delivers(smtp_cert: SelfSignedCert) -> None:
    with running_smtp_server(tls="tls", cert=smtp_cert) as server:
        config = parse_smtp_url(server.url())
        assert config.security == "tls"
        sender = SmtpTransport(config, timeout=10, ssl_context=smtp_cert.client_context())
        assert statuses(sender.send_batch([note(1)])) == ["sent"]
        assert subjects(server) == ["Note 1"]


def test_an_untrusted_certificate_sends_nothing(smtp_cert: SelfSignedCert) -> None:
    with running_smtp_server(tls="tls", cert=smtp_cert) as server:
        results = transport(server).send_batch([note(1)])  # the system's trust store
        assert statuses(results) == ["transient"]
        assert "CERTIFICATE_VERIFY_FAILED" in results[0].detail
        assert server.received == []


def test_starttls_asked_of_a_server_without_it_sends_nothing_in_the_clear(
    smtp_server: SmtpServer,
) -> None:
    config = parse_smtp_url(smtp_server.url() + "?starttls=1")
    results = SmtpTransport(config, timeout=10).send_batch([note(1)])
    assert statuses(results) == ["transient"]
    assert "STARTTLS" in results[0].detail
    assert smtp_server.received == []


def test_an_invitation_arrives_intact(smtp_server: SmtpServer) -> None:
    message = invitation(name="Zoë Ä. O'Brien")
    assert statuses(transport(smtp_server).send_batch([message])) == ["sent"]
    (received,) = smtp_server.received
    assert received.rcpt_tos == ("ana@example.com",)
    arrived = received.message
    assert arrived["To"].addresses[0].display_name == "Zoë Ä. O'Brien"
    assert arrived["To"].addresses[0].addr_spec == "ana@example.com"
    assert arrived["List-Unsubscribe"] == f"<{BASE}/u/{KEY}>"
    assert arrived["Message-ID"] == "<invitation-42.abc@feedback.example.com>"
    assert html_of(arrived).replace("\r\n", "\n") == html_of(message)
    assert text_of(arrived).replace("\r\n", "\n") == text_of(message)


# -- the development outbox ----------------------------------------------------------


def test_the_outbox_writes_readable_eml_files(tmp_path: Path) -> None:
    outbox = OutboxTransport(tmp_path / "var" / "outbox")
    no_id = note(3)
    del no_id["Message-ID"]
    results = outbox.send_batch([invitation(), note(2), no_id])
    assert statuses(results) == ["sent", "sent", "sent"]
    files = sorted((tmp_path / "var" / "outbox").iterdir())
    names = [path.name for path in files]
    assert "invitation-42.abc@feedback.example.com.eml" in names
    assert "note-2@feedback.example.com.eml" in names
    assert len(files) == 3 and all(name.endswith(".eml") for name in names)
    parsed = message_from_bytes(
        (tmp_path / "var/outbox/invitation-42.abc@feedback.example.com.eml").read_bytes(),
        policy=policy.default,
    )
    assert isinstance(parsed, EmailMessage)
    assert parsed["Subject"] == "Corner Shop would like your opinion"
    assert score_url(7) in parsed.get_body(("plain",)).get_content()
    # The same message again replaces its file: a retry is not a second message.
    outbox.send_batch([invitation()])
    assert len(list((tmp_path / "var" / "outbox").iterdir())) == 3


def test_outbox_names_are_safe_file_names(tmp_path: Path) -> None:
    message = note(1)
    message.replace_header("Message-ID", "<../../etc/pass wd@x>")
    (result,) = OutboxTransport(tmp_path).send_batch([message])
    (path,) = tmp_path.iterdir()
    assert path.name == "etc_pass_wd@x.eml" and result.detail == str(path)


# -- the invitation ------------------------------------------------------------------


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def test_the_invitation_has_its_headers() -> None:
    message = invitation()
    assert message["To"] == "Ana Lima <ana@example.com>"
    assert message["From"] == "nps-beacon <noreply@feedback.example.com>"
    assert message["Subject"] == "Corner Shop would like your opinion"
    assert message["Date"]
    assert message["Message-ID"] == "<invitation-42.abc@feedback.example.com>"
    assert message["List-Unsubscribe"] == f"<{BASE}/u/{KEY}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Content-Language"] == "en"
    assert message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    # The long unsubscribe address stays whole on one line, as clients need it.
    assert f"\r\nList-Unsubscribe: <{BASE}/u/{KEY}>\r\n".encode() in bytes(message)


def test_a_message_id_without_brackets_gets_them() -> None:
    assert invitation(message_id="inv-7@host.example")["Message-ID"] == "<inv-7@host.example>"


@pytest.mark.parametrize(
    "name", ["Eve\r\nBcc: victim@example.com", "Eve\nBcc: victim@example.com", "Eve\x00\x1b[31m"]
)
def test_control_characters_in_names_cannot_add_headers(name: str) -> None:
    message = invitation(name=name)
    raw = bytes(message)
    assert b"\r\nBcc:" not in raw and b"\nBcc:" not in raw
    assert message["Bcc"] is None
    assert len(message["To"].addresses) == 1
    assert message["To"].addresses[0].addr_spec == "ana@example.com"
    assert "\n" not in message["To"].addresses[0].display_name
    assert not any(ord(ch) < 32 for ch in str(message["To"]))


@pytest.mark.parametrize(
    "changes",
    [
        {"to": "ana@example.com\r\nBcc: victim@example.com"},
        {"to": "ana@example.com, eve@example.com"},
        {"to": "not an address"},
        {"to": "ana@"},
        {"to": ""},
        {"message_id": "<a@b>\r\nBcc: victim@example.com"},
        {"message_id": "no-at-sign"},
        {"unsubscribe_url": f"{BASE}/u/x\r\nBcc: victim@example.com"},
        {"unsubscribe_url": "javascript:alert(1)"},
        {"score_url": lambda n: f'{BASE}/s/x?score={n}" onclick="alert(1)'},
        {"sender": "nps-beacon <noreply@example.com>\r\nBcc: victim@example.com"},
    ],
)
def test_what_cannot_be_a_header_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        invitation(**changes)


def test_every_score_has_one_link_in_both_parts() -> None:
    message = invitation()
    html, text = html_of(message), text_of(message)
    for score in range(11):
        assert html.count(f'href="{score_url(score)}"') == 1
        assert len(re.findall(rf"^{score}\b.*: {re.escape(score_url(score))}$", text, re.M)) == 1
    assert len(re.findall(r'href="[^"]*\?score=', html)) == 11
    assert "How likely are you to recommend us to a friend or colleague?" in html
    assert "Not at all likely" in html and "Extremely likely" in html
    assert "Hello Ana Lima," in html and "Hello Ana Lima," in text
    assert f'href="{BASE}/u/{KEY}"' in html and f"{BASE}/u/{KEY}" in text
    assert ">Unsubscribe</a>" in html


@pytest.mark.parametrize(("kind", "scores"), [("csat", range(1, 6)), ("ces", range(1, 8))])
def test_other_scales_have_their_own_links(kind: str, scores: range) -> None:
    html = html_of(invitation(survey=survey(kind)))
    assert re.findall(r'href="[^"]*\?score=(\d+)"', html) == [str(n) for n in scores]


def test_the_html_has_nothing_a_mail_client_would_block() -> None:
    html = html_of(invitation()).lower()
    assert "<script" not in html and "javascript:" not in html
    assert "<link" not in html and "@import" not in html and "<style" not in html
    sources = re.findall(r"""\s(?:src|background)\s*=\s*["']?([^"'\s>]+)""", html)
    assert [s for s in sources if re.match(r"(https?:)?//", s)] == []
    assert "url(" not in html
    assert "<table" in html and 'role="presentation"' in html


def test_german_invitation() -> None:
    message = invitation(language="de", name=None)
    html, text = html_of(message), text_of(message)
    assert message["Subject"] == "Corner Shop bittet um Ihre Meinung"
    assert message["Content-Language"] == "de"
    assert '<html lang="de">' in html
    assert "Guten Tag," in text and "Guten Tag," in html
    expected = "Wie wahrscheinlich ist es, dass Sie uns einem Freund oder Kollegen empfehlen?"
    assert expected in html and expected in text
    assert "Äußerst wahrscheinlich" in html and ">Abmelden</a>" in html
    assert "Hello" not in text and "Unsubscribe" not in html


def test_the_survey_own_texts_and_the_callers_override_the_defaults() -> None:
    texts = {
        "en": {
            "question": "Would you recommend the Corner Shop?",
            "email_subject": "Your order 1234",
            "email_intro": "Thanks for your order.\n\nTell us <how> it went.",
        }
    }
    own = invitation(survey=survey(texts=texts))
    assert own["Subject"] == "Your order 1234"
    assert "Would you recommend the Corner Shop?" in html_of(own)
    assert "Tell us &lt;how&gt; it went." in html_of(own) and "<how>" not in html_of(own)
    assert "Thanks for your order.\n\nTell us <how> it went." in text_of(own)
    given = invitation(
        survey=survey(texts=texts), subject="Quick\r\nquestion", intro="Just one click."
    )
    assert given["Subject"] == "Quick question"
    assert "Just one click." in text_of(given) and "Thanks for your order" not in text_of(given)


# -- the budget alert ------------------------------------------------------------------


def alert(**changes: Any) -> EmailMessage:
    values: dict[str, Any] = {
        "to": "owner@shop.example",
        "sender": "nps-beacon <noreply@feedback.example.com>",
        "language": "en",
        "account_name": "Corner Shop",
        "period": "2026-12",
        "used": 40,
        "limit": 50,
        "level": 80,
        "dashboard_url": f"{BASE}/admin/tariff",
        "message_id": "<alert-1-2026-12-80@feedback.example.com>",
    }
    values.update(changes)
    return budget_alert_message(**values)


def test_the_80_percent_alert_says_what_is_coming() -> None:
    message = alert()
    text = text_of(message)
    assert message["Subject"] == "Corner Shop: 80% of the budget for December 2026 used"
    assert message["To"] == "owner@shop.example"
    assert message["Auto-Submitted"] == "auto-generated"
    assert "used 40 of 50" in text
    assert "refused and lost" in text and "1 January 2027" in text
    assert "upgrade the tariff" in text
    assert f"{BASE}/admin/tariff" in text
    assert f'href="{BASE}/admin/tariff"' in html_of(message)
    assert message["List-Unsubscribe"] is None


def test_the_100_percent_alert_in_german() -> None:
    message = alert(language="de", used=5000, limit=5000, level=100, period="2026-05")
    text = text_of(message)
    assert message["Subject"] == "Corner Shop: Das Budget für Mai 2026 ist aufgebraucht"
    assert "5.000 von 5.000" in text and "(100 %)" in text
    assert "Ab jetzt" in text and "1. Juni 2026" in text
    assert "abgelehnt und gehen verloren" in html_of(message)


@pytest.mark.parametrize(
    "changes", [{"level": 50}, {"to": "owner@shop.example\nBcc: x@y.z"}, {"dashboard_url": "/x"}]
)
def test_bad_alerts_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        alert(**changes)
