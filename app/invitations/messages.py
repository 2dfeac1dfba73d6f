"""The e-mails the service writes: a survey's invitation to one recipient and
the budget alert and the disabled-webhook notice an account's admins get.

Small functions over ``html.escape`` instead of templates: domain modules do
not import jinja2, and a message's HTML is a few fixed tables. The HTML keeps
to what common mail clients render: tables for layout, inline styles only, no
script, no remote image or stylesheet. Every fixed word comes from ``app.platform.i18n``.
"""

from __future__ import annotations

from collections.abc import Callable
from email.headerregistry import Address
from email.message import EmailMessage

from app.platform.compose import (
    _COLOR,
    FOOTER_LINK,
    FOOTER_TEXT,
    LABEL,
    MUTED_TEXT,
    QUESTION,
    SCORE_CELL,
    SCORE_LINK,
    build_message,
    checked_url,
    escaped,
    html_document,
    html_row,
    html_table,
    one_line,
    paragraph,
    recipient,
    text_paragraphs,
)
from app.platform.i18n import DEFAULT, LANGUAGES, translator
from app.platform.text import clean_text
from app.surveys.model import Survey
from app.surveys.texts import texts_for

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
    account = one_line(account_name)
    own = survey.texts.get(language) or {}
    texts = texts_for(survey.kind, survey.texts, language)
    subject = one_line(subject or own.get("email_subject")) or t("email.subject", account=account)
    intro = clean_text(intro or own.get("email_intro") or "") or t("email.intro", account=account)
    address = recipient(to, name)
    greeting = (
        t("email.greeting_name", name=address.display_name)
        if address.display_name
        else t("email.greeting")
    )
    scores = list(survey.scale.scores)
    urls = {score: checked_url(score_url(score)) for score in scores}
    unsubscribe = checked_url(unsubscribe_url)
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
            html_row(
                paragraph(greeting)
                + text_paragraphs(intro)
                + paragraph(question, QUESTION)
                + paragraph(t("email.choose_html"), MUTED_TEXT),
                "padding:28px 24px 4px",
            ),
            html_row(_score_buttons(urls) + _end_labels(low, high), "padding:0 12px"),
            html_row(paragraph(f"{t('email.thanks')}\n{account}"), "padding:16px 24px 20px"),
        ]
    )
    footer = paragraph(t("email.sent_by", account=account), FOOTER_TEXT) + (
        f'<p style="{FOOTER_TEXT}">{escaped(t("email.unsubscribe_hint", account=account))} '
        f'<a href="{escaped(unsubscribe)}" style="{FOOTER_LINK}">'
        f"{escaped(t('email.unsubscribe'))}</a></p>"
    )
    message = build_message(
        to=address,
        sender=sender,
        subject=subject,
        language=language,
        message_id=message_id,
        text=text,
        html=html_document(language, subject, body, footer, color),
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
        f'<a href="{escaped(url)}" style="{SCORE_LINK}">{score}</a></td>'
        for score, url in urls.items()
    )
    return html_table(f"<tr>{cells}</tr>", spacing=2)


def _end_labels(low: str, high: str) -> str:
    return html_table(
        f'<tr><td align="left" valign="top" style="{LABEL}">{escaped(low)}</td>'
        f'<td align="right" valign="top" style="{LABEL}">{escaped(high)}</td></tr>'
    )


# -- headers -----------------------------------------------------------------
