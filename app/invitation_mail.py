"""The e-mails the service writes: a survey's invitation to one recipient and
the budget alert and the disabled-webhook notice an account's admins get.

Small functions over ``html.escape`` instead of templates: domain modules do
not import jinja2, and a message's HTML is a few fixed tables. The HTML keeps
to what common mail clients render: tables for layout, inline styles only, no
script, no remote image or stylesheet. Every fixed word comes from ``app.platform.i18n``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime
from zoneinfo import ZoneInfo

from app.platform.i18n import DEFAULT, LANGUAGES, Formatter, translator
from app.survey_texts import clean_text, texts_for
from app.surveys import Survey

ALERT_LEVELS = (80, 100)
# Headers that hold one URL each and must stay on one line (see _Policy).
_VERBATIM = frozenset({"list-unsubscribe"})
_MESSAGE_ID = re.compile(r"[!-;=?-~]+@[!-;=?-~]+")  # printable ASCII but < and >
_URL = re.compile(r"https?://[!-~]+")
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


class _Policy(EmailPolicy):
    """The SMTP policy, except that a URL header is written on one line: the
    standard folder would turn a URL longer than a line into encoded words,
    which no client follows for one-click unsubscribes."""

    def fold(self, name: str, value: str) -> str:
        if name.lower() in _VERBATIM:
            return f"{name}: {value}{self.linesep}"
        return super().fold(name, value)

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() in _VERBATIM:
            return self.fold(name, value).encode("ascii")
        return super().fold_binary(name, value)


POLICY = _Policy(linesep="\r\n")


# -- the invitation ----------------------------------------------------------


def invitation_message(
    *,
    survey: Survey,
    language: str,
    to: str,
    name: str | None,
    sender: str | Address,
    account_name: str,
    score_url: Callable[[int], str],
    unsubscribe_url: str,
    message_id: str,
    subject: str | None = None,
    intro: str | None = None,
) -> EmailMessage:
    """The survey's question with one link per score, in ``language``.

    ``subject`` and ``intro`` default to the survey's own for the language,
    then to the catalogue's. Raises ValueError for an address, URL or
    Message-ID that cannot be written into a header."""
    language = language if language in LANGUAGES else DEFAULT
    t = translator(language)
    account = _one_line(account_name)
    own = survey.texts.get(language) or {}
    texts = texts_for(survey.kind, survey.texts, language)
    subject = _one_line(subject or own.get("email_subject")) or t("email.subject", account=account)
    intro = clean_text(intro or own.get("email_intro") or "") or t("email.intro", account=account)
    address = recipient(to, name)
    greeting = (
        t("email.greeting_name", name=address.display_name)
        if address.display_name
        else t("email.greeting")
    )
    scores = list(survey.scale.scores)
    urls = {score: _url(score_url(score)) for score in scores}
    unsubscribe = _url(unsubscribe_url)
    question, low, high = texts["question"], texts["low_label"], texts["high_label"]
    color = survey.color if _COLOR.fullmatch(survey.color or "") else "#1f5fbf"

    text = "\n\n".join(
        [
            greeting,
            intro,
            question,
            t("email.choose_text"),
            "\n".join(_score_line(n, urls[n], low, high, scores) for n in scores),
            f"{t('email.thanks')}\n{account}",
            f"-- \n{t('email.sent_by', account=account)}\n"
            f"{t('email.unsubscribe_hint', account=account)} "
            f"{t('email.unsubscribe')}: {unsubscribe}",
        ]
    )
    body = "".join(
        [
            _row(
                _paragraph(greeting)
                + _paragraphs(intro)
                + _paragraph(question, QUESTION)
                + _paragraph(t("email.choose_html"), MUTED_TEXT),
                "padding:28px 24px 4px",
            ),
            _row(_score_buttons(urls) + _end_labels(low, high), "padding:0 12px"),
            _row(_paragraph(f"{t('email.thanks')}\n{account}"), "padding:16px 24px 20px"),
        ]
    )
    footer = _paragraph(t("email.sent_by", account=account), FOOTER_TEXT) + (
        f'<p style="{FOOTER_TEXT}">{_e(t("email.unsubscribe_hint", account=account))} '
        f'<a href="{_e(unsubscribe)}" style="{FOOTER_LINK}">{_e(t("email.unsubscribe"))}</a></p>'
    )
    message = _message(
        to=address,
        sender=sender,
        subject=subject,
        language=language,
        message_id=message_id,
        text=text,
        html=_document(language, subject, body, footer, color),
    )
    message["List-Unsubscribe"] = f"<{unsubscribe}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return message


def _score_line(score: int, url: str, low: str, high: str, scores: list[int]) -> str:
    label = low if score == scores[0] else high if score == scores[-1] else ""
    return f"{score} ({label}): {url}" if label else f"{score}: {url}"


def _score_buttons(urls: dict[int, str]) -> str:
    # The cell carries the button's look, so clients that ignore padding on
    # links (Outlook) still show a box; the link fills it elsewhere.
    width = 100 // len(urls)
    cells = "".join(
        f'<td align="center" width="{width}%" style="{SCORE_CELL}">'
        f'<a href="{_e(url)}" style="{SCORE_LINK}">{score}</a></td>'
        for score, url in urls.items()
    )
    return _table(f"<tr>{cells}</tr>", spacing=2)


def _end_labels(low: str, high: str) -> str:
    return _table(
        f'<tr><td align="left" valign="top" style="{LABEL}">{_e(low)}</td>'
        f'<td align="right" valign="top" style="{LABEL}">{_e(high)}</td></tr>'
    )


# -- the budget alert --------------------------------------------------------


def budget_alert_message(
    *,
    to: str,
    sender: str,
    language: str,
    account_name: str,
    period: str,
    used: int,
    limit: int,
    level: int,
    dashboard_url: str,
    message_id: str,
) -> EmailMessage:
    """Tells an account's admin that ``period``'s usage crossed ``level``
    percent (80 or 100) and what happens once the budget is used up."""
    if level not in ALERT_LEVELS:
        raise ValueError(f"an alert is for 80 or 100 percent, not {level}")
    language = language if language in LANGUAGES else DEFAULT
    t = translator(language)
    formats = Formatter(language, ZoneInfo("UTC"))
    account = _one_line(account_name)
    month = formats.period(period)
    year, number = (int(part) for part in period.split("-"))
    next_start = formats.date(date(year + number // 12, number % 12 + 1, 1))
    subject = t(
        f"email.budget.subject.{level}",
        account=account,
        period=month,
        percent=formats.percent(level / 100),
    )
    paragraphs = [
        t("email.budget.greeting"),
        t(
            "email.budget.used",
            account=account,
            used=formats.number(used),
            limit=formats.number(limit),
            period=month,
            percent=formats.percent(used / limit if limit else 1),
        ),
        t("email.budget.exhausted" if level == 100 else "email.budget.warning", next=next_start),
        t("email.budget.scheduled"),
    ]
    return _notice(
        to=to,
        sender=sender,
        subject=subject,
        language=language,
        message_id=message_id,
        paragraphs=paragraphs,
        action=t("email.budget.action"),
        link=_url(dashboard_url),
        why=t("email.budget.why", account=account),
    )


def webhook_disabled_message(
    *,
    to: str,
    sender: str,
    language: str,
    account_name: str,
    url: str,
    page_url: str,
    message_id: str,
) -> EmailMessage:
    """Tells an account's admin that a webhook endpoint was switched off
    after repeated failures, and where to switch it on again."""
    language = language if language in LANGUAGES else DEFAULT
    t = translator(language)
    account = _one_line(account_name)
    target = _one_line(url)
    subject = t("email.webhook.subject", account=account)
    paragraphs = [
        t("email.budget.greeting"),
        t("email.webhook.disabled", account=account, url=target),
        t("email.webhook.lost"),
    ]
    return _notice(
        to=to,
        sender=sender,
        subject=subject,
        language=language,
        message_id=message_id,
        paragraphs=paragraphs,
        action=t("email.webhook.action"),
        link=_url(page_url),
        why=t("email.webhook.why", account=account),
    )


def _notice(
    *,
    to: str,
    sender: str,
    subject: str,
    language: str,
    message_id: str,
    paragraphs: list[str],
    action: str,
    link: str,
    why: str,
) -> EmailMessage:
    """A message to an admin: paragraphs, one action button, why it came."""
    text = "\n\n".join([*paragraphs, f"{action}: {link}", f"-- \n{why}"])
    button = (
        f'<table role="presentation" cellpadding="0" cellspacing="0" border="0">'
        f'<tr><td style="{ACTION_CELL}"><a href="{_e(link)}" style="{ACTION_LINK}">'
        f"{_e(action)}</a></td></tr></table>"
    )
    body = _row("".join(_paragraph(p) for p in paragraphs) + button, "padding:28px 24px")
    return _message(
        to=recipient(to, None),
        sender=sender,
        subject=subject,
        language=language,
        message_id=message_id,
        text=text,
        html=_document(language, subject, body, _paragraph(why, FOOTER_TEXT), "#1f5fbf"),
    )


# -- headers -----------------------------------------------------------------


def recipient(to: str, name: str | None) -> Address:
    """``to`` as one address shown with ``name``. Line breaks and other
    control characters in the name (from an import, say) become spaces, so
    they cannot start a header of their own; a bad address is a ValueError."""
    if not to or any(ch.isspace() or not ch.isprintable() for ch in to) or to.count("@") != 1:
        raise ValueError(f"not one e-mail address: {to!r}")
    try:
        address = Address(display_name=_one_line(name), addr_spec=to)
    except (ValueError, IndexError, HeaderParseError) as exc:
        raise ValueError(f"not one e-mail address: {to!r}") from exc
    if not address.username or not address.domain:
        raise ValueError(f"not one e-mail address: {to!r}")
    return address


def from_address(mail_from: str, display_name: str | None = None) -> Address:
    """``MAIL_FROM``'s address shown as ``display_name`` (its own name when
    None or empty). The address is never the account's: the operator's domain
    is the one whose SPF, DKIM and DMARC records vouch for the message. The
    name is one line, and a non-ASCII one is written as an RFC 2047 encoded
    word by the SMTP policy."""
    parsed = _mail_from_address(mail_from)
    name = _one_line(display_name) or parsed.display_name
    return Address(display_name=name, username=parsed.username, domain=parsed.domain)


def _mail_from_address(mail_from: str) -> Address:
    """The one address of a ``MAIL_FROM`` value (settings checked it)."""
    header = POLICY.header_factory("From", mail_from)
    addresses: tuple[Address, ...] = tuple(getattr(header, "addresses", ()))
    if len(addresses) != 1:
        raise ValueError(f"not one address: {mail_from!r}")
    return addresses[0]


def _message(
    *,
    to: Address,
    sender: str | Address,
    subject: str,
    language: str,
    message_id: str,
    text: str,
    html: str,
) -> EmailMessage:
    message = EmailMessage(policy=POLICY)
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = to
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = _message_id(message_id)
    message["Auto-Submitted"] = "auto-generated"
    # Quoted-printable keeps every line 7-bit, whatever the server offers.
    message.set_content(text, cte="quoted-printable")
    message.add_alternative(html, subtype="html", cte="quoted-printable")
    # After the content: setting it clears every Content- header.
    message["Content-Language"] = language
    return message


def _message_id(value: str) -> str:
    bare = value.strip().removeprefix("<").removesuffix(">")
    if not _MESSAGE_ID.fullmatch(bare) or bare.count("@") != 1:
        raise ValueError(f"not a Message-ID like <id@host>: {value!r}")
    return f"<{bare}>"


def _url(url: str) -> str:
    """An absolute http(s) URL that can stand in a header and an attribute."""
    if not _URL.fullmatch(url) or any(ch in url for ch in '<>"'):
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    return url


def _one_line(text: str | None) -> str:
    return " ".join(clean_text(text or "").split())


# -- HTML --------------------------------------------------------------------

FONT = "font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif"
INK, MUTED, PAGE = "#1f2933", "#52606d", "#f3f4f6"
TEXT = f"margin:0 0 16px;{FONT};font-size:16px;line-height:24px;color:{INK}"
QUESTION = f"margin:8px 0 12px;{FONT};font-size:20px;line-height:28px;font-weight:bold;color:{INK}"
MUTED_TEXT = f"margin:0 0 8px;{FONT};font-size:14px;line-height:20px;color:{MUTED}"
LABEL = f"padding:6px 2px 0 4px;{FONT};font-size:13px;line-height:18px;color:{MUTED}"
SCORE_CELL = f"background-color:#f5f7fa;border:1px solid #9aa5b1;border-radius:6px;{FONT}"
SCORE_LINK = (
    f"display:block;padding:12px 0;{FONT};font-size:17px;line-height:20px;font-weight:bold;"
    f"color:{INK};text-decoration:none"
)
ACTION_CELL = "background-color:#1f5fbf;border-radius:6px"
ACTION_LINK = (
    f"display:inline-block;padding:12px 20px;{FONT};font-size:16px;font-weight:bold;"
    "color:#ffffff;text-decoration:none"
)
FOOTER_TEXT = f"margin:0 0 8px;{FONT};font-size:13px;line-height:19px;color:{MUTED}"
FOOTER_LINK = f"color:{MUTED};text-decoration:underline"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _paragraph(text: str, style: str = TEXT) -> str:
    lines = "<br>".join(_e(line) for line in text.splitlines())
    return f'<p style="{style}">{lines}</p>'


def _paragraphs(text: str) -> str:
    """Blank lines part paragraphs, single line breaks stay breaks."""
    blocks = (block.strip() for block in re.split(r"\n\s*\n", text))
    return "".join(_paragraph(block) for block in blocks if block)


def _table(rows: str, *, spacing: int = 0, style: str = "", width: str = "100%") -> str:
    # The width attribute is for Outlook, which ignores max-width in CSS.
    return (
        f'<table role="presentation" width="{width}" cellpadding="0" cellspacing="{spacing}"'
        f' border="0" style="width:100%;{style}">{rows}</table>'
    )


def _row(content: str, padding: str) -> str:
    return f'<tr><td style="{padding}">{content}</td></tr>'


def _document(language: str, title: str, body: str, footer: str, accent: str) -> str:
    """A centred card at most 600 pixels wide on a grey page, with the
    footer under the card."""
    card = _table(
        body,
        width="600",
        style=f"max-width:600px;background-color:#ffffff;border-top:4px solid {accent};"
        "border-radius:8px",
    )
    under = _table(
        _row(footer, "padding:16px 24px;text-align:center"), width="600", style="max-width:600px"
    )
    page = _table(
        f'<tr><td align="center" style="padding:24px 8px">{card}{under}</td></tr>',
        style=f"background-color:{PAGE}",
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            f'<html lang="{_e(language)}">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta name="color-scheme" content="light">',
            f"<title>{_e(title)}</title>",
            "</head>",
            f'<body style="margin:0;padding:0;background-color:{PAGE}">',
            page,
            "</body>",
            "</html>",
            "",
        ]
    )


# -- inbox messages ------------------------------------------------------------


def note_message(
    *,
    to: str,
    sender: str | Address,
    subject: str,
    language: str,
    message_id: str,
    text: str,
    footer: str,
    reply_to: str | None = None,
    link: tuple[str, str] | None = None,
    to_name: str | None = None,
) -> EmailMessage:
    """A short message of paragraphs: a reply to a respondent (``Reply-To``
    the admin who wrote it) or a detractor alert (with ``link``, a label
    and an admin page's address)."""
    language = language if language in LANGUAGES else DEFAULT
    subject = _one_line(subject)
    parts = [text]
    button = ""
    if link is not None:
        label, url = link[0], _url(link[1])
        parts.append(f"{label}: {url}")
        button = (
            f'<table role="presentation" cellpadding="0" cellspacing="0" border="0">'
            f'<tr><td style="{ACTION_CELL}"><a href="{_e(url)}" style="{ACTION_LINK}">'
            f"{_e(label)}</a></td></tr></table>"
        )
    body = _row(_paragraphs(text) + button, "padding:28px 24px")
    message = _message(
        to=recipient(to, to_name),
        sender=sender,
        subject=subject,
        language=language,
        message_id=message_id,
        text="\n\n".join([*parts, f"-- \n{footer}"]),
        html=_document(language, subject, body, _paragraph(footer, FOOTER_TEXT), "#1f5fbf"),
    )
    if reply_to is not None:
        message["Reply-To"] = recipient(reply_to, None)
        # A person wrote it: the respondent's auto-responder may answer.
        del message["Auto-Submitted"]
    return message
