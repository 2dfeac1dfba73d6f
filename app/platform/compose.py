"""Writing a message: headers that cannot be forged by what they carry, and the
HTML every message shares (inline styles, tables, no script, no remote image
or stylesheet)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime

from app.platform.text import clean_text

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


def admin_notice(
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
        f'<tr><td style="{ACTION_CELL}"><a href="{escaped(link)}" style="{ACTION_LINK}">'
        f"{escaped(action)}</a></td></tr></table>"
    )
    body = html_row("".join(paragraph(p) for p in paragraphs) + button, "padding:28px 24px")
    return build_message(
        to=recipient(to, None),
        sender=sender,
        subject=subject,
        language=language,
        message_id=message_id,
        text=text,
        html=html_document(language, subject, body, paragraph(why, FOOTER_TEXT), "#1f5fbf"),
    )


def recipient(to: str, name: str | None) -> Address:
    """``to`` as one address shown with ``name``. Line breaks and other
    control characters in the name (from an import, say) become spaces, so
    they cannot start a header of their own; a bad address is a ValueError."""
    if not to or any(ch.isspace() or not ch.isprintable() for ch in to) or to.count("@") != 1:
        raise ValueError(f"not one e-mail address: {to!r}")
    try:
        address = Address(display_name=one_line(name), addr_spec=to)
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
    name = one_line(display_name) or parsed.display_name
    return Address(display_name=name, username=parsed.username, domain=parsed.domain)


def _mail_from_address(mail_from: str) -> Address:
    """The one address of a ``MAIL_FROM`` value (settings checked it)."""
    header = POLICY.header_factory("From", mail_from)
    addresses: tuple[Address, ...] = tuple(getattr(header, "addresses", ()))
    if len(addresses) != 1:
        raise ValueError(f"not one address: {mail_from!r}")
    return addresses[0]


def build_message(
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
    message["Message-ID"] = checked_message_id(message_id)
    message["Auto-Submitted"] = "auto-generated"
    # Quoted-printable keeps every line 7-bit, whatever the server offers.
    message.set_content(text, cte="quoted-printable")
    message.add_alternative(html, subtype="html", cte="quoted-printable")
    # After the content: setting it clears every Content- header.
    message["Content-Language"] = language
    return message


def checked_message_id(value: str) -> str:
    bare = value.strip().removeprefix("<").removesuffix(">")
    if not _MESSAGE_ID.fullmatch(bare) or bare.count("@") != 1:
        raise ValueError(f"not a Message-ID like <id@host>: {value!r}")
    return f"<{bare}>"


def checked_url(url: str) -> str:
    """An absolute http(s) URL that can stand in a header and an attribute."""
    if not _URL.fullmatch(url) or any(ch in url for ch in '<>"'):
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    return url


def one_line(text: str | None) -> str:
    return " ".join(clean_text(text or "").split())


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


def escaped(text: str) -> str:
    return html.escape(text, quote=True)


def paragraph(text: str, style: str = TEXT) -> str:
    lines = "<br>".join(escaped(line) for line in text.splitlines())
    return f'<p style="{style}">{lines}</p>'


def text_paragraphs(text: str) -> str:
    """Blank lines part paragraphs, single line breaks stay breaks."""
    blocks = (block.strip() for block in re.split(r"\n\s*\n", text))
    return "".join(paragraph(block) for block in blocks if block)


def html_table(rows: str, *, spacing: int = 0, style: str = "", width: str = "100%") -> str:
    # The width attribute is for Outlook, which ignores max-width in CSS.
    return (
        f'<table role="presentation" width="{width}" cellpadding="0" cellspacing="{spacing}"'
        f' border="0" style="width:100%;{style}">{rows}</table>'
    )


def html_row(content: str, padding: str) -> str:
    return f'<tr><td style="{padding}">{content}</td></tr>'


def html_document(language: str, title: str, body: str, footer: str, accent: str) -> str:
    """A centred card at most 600 pixels wide on a grey page, with the
    footer under the card."""
    card = html_table(
        body,
        width="600",
        style=f"max-width:600px;background-color:#ffffff;border-top:4px solid {accent};"
        "border-radius:8px",
    )
    under = html_table(
        html_row(footer, "padding:16px 24px;text-align:center"),
        width="600",
        style="max-width:600px",
    )
    page = html_table(
        f'<tr><td align="center" style="padding:24px 8px">{card}{under}</td></tr>',
        style=f"background-color:{PAGE}",
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            f'<html lang="{escaped(language)}">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta name="color-scheme" content="light">',
            f"<title>{escaped(title)}</title>",
            "</head>",
            f'<body style="margin:0;padding:0;background-color:{PAGE}">',
            page,
            "</body>",
            "</html>",
            "",
        ]
    )
