# ruff: noqa: RUF001  (typographic dashes and minus signs are wanted here)
"""The admin pages' words in English and German, and how numbers and dates
are written in each. Plain dictionaries and functions: no web imports.

A message is a string with ``{name}`` parameters, or a (one, other) pair that
is chosen by the ``count`` parameter.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

LANGUAGES = ("en", "de")
DEFAULT = "en"

Message = str | tuple[str, str]

_SEGMENTS_EN: dict[str, Message] = {
    "segment.detractor": "Detractor",
    "segment.passive": "Passive",
    "segment.promoter": "Promoter",
    "segment.negative": "Negative",
    "segment.neutral": "Neutral",
    "segment.positive": "Positive",
    "segment.high-effort": "High effort",
    "segment.low-effort": "Low effort",
    "segment.detractor.plural": "Detractors",
    "segment.passive.plural": "Passives",
    "segment.promoter.plural": "Promoters",
    "segment.negative.plural": "Negative",
    "segment.neutral.plural": "Neutral",
    "segment.positive.plural": "Positive",
    "segment.high-effort.plural": "High effort",
    "segment.low-effort.plural": "Low effort",
}

_SEGMENTS_DE: dict[str, Message] = {
    "segment.detractor": "Kritiker",
    "segment.passive": "Passiv",
    "segment.promoter": "Promoter",
    "segment.negative": "Negativ",
    "segment.neutral": "Neutral",
    "segment.positive": "Positiv",
    "segment.high-effort": "Hoher Aufwand",
    "segment.low-effort": "Geringer Aufwand",
    "segment.detractor.plural": "Kritiker",
    "segment.passive.plural": "Passive",
    "segment.promoter.plural": "Promoter",
    "segment.negative.plural": "Negativ",
    "segment.neutral.plural": "Neutral",
    "segment.positive.plural": "Positiv",
    "segment.high-effort.plural": "Hoher Aufwand",
    "segment.low-effort.plural": "Geringer Aufwand",
}

EN: dict[str, Message] = {
    **_SEGMENTS_EN,
    "nav.skip": "Skip to content",
    "nav.label": "Main",
    "nav.dashboard": "Dashboard",
    "nav.surveys": "Surveys",
    "nav.tariff": "Tariff",
    "nav.account": "My account",
    "nav.logout": "Log out",
    "login.title": "Log in",
    "login.email": "Email",
    "login.password": "Password",
    "login.submit": "Log in",
    "login.failed": "The email or the password is not correct.",
    "dash.title": "Dashboard",
    "dash.no_surveys": "You have no survey yet.",
    "dash.budget": "Remaining budget",
    "dash.remaining_of": "of {limit} surveys left this month",
    "dash.used": "{used} of {limit} used",
    "dash.tariff": "tariff {name}",
    "dash.resets": "The budget resets on {when}.",
    "dash.sync": "Last data sync",
    "dash.sync_detail": "{channel} of “{survey}”",
    "dash.origin": "Origin",
    "dash.no_origin": "none (direct request)",
    "dash.sync_none": "No widget or link has contacted the server yet.",
    "dash.accepted": "Last accepted feedback",
    "dash.accepted_survey": "Survey “{survey}”",
    "dash.accepted_none": "No feedback accepted yet.",
    "dash.refused": "Refused this month",
    "dash.refused_hint": "Submissions refused because the budget was used up. They are lost.",
    "dash.forecast": "Forecast",
    "dash.runs_out": "At the current pace the budget runs out on {date}.",
    "dash.lasts": "At the current pace the budget lasts this month.",
    "dash.no_pace": "No submissions this month yet.",
    "dash.suggest": "A tariff that would fit: {name} ({budget} a month).",
    "dash.to_tariff": "Change tariff",
    "dash.nps": "NPS this month (all NPS surveys)",
    "dash.responses": ("{count} response", "{count} responses"),
    "dash.nps_none": "No NPS responses this month yet.",
    "channel.widget": "Widget",
    "channel.link": "Link",
    "surveys.title": "Surveys",
    "surveys.new": "New survey",
    "surveys.status": "Status",
    "surveys.actions": "Actions",
    "surveys.active": "Active",
    "surveys.inactive": "Inactive",
    "surveys.results": "Results",
    "surveys.none": "No surveys yet.",
    "field.name": "Name",
    "field.kind": "Kind",
    "field.kind_fixed": "cannot be changed",
    "field.language": "Language shown to visitors",
    "field.language_hint": "Automatic follows the visitor's browser (German or English).",
    "field.question": "Question",
    "field.low_label": "Label at the low end",
    "field.high_label": "Label at the high end",
    "field.follow_for": "Follow-up: {segment} ({range})",
    "field.follow_slot0": "Follow-up after a low score",
    "field.follow_slot1": "Follow-up after a middle score",
    "field.follow_slot2": "Follow-up after a high score",
    "field.follow_slot_hint": "NPS {nps}, CSAT {csat}, CES {ces}",
    "field.review_url": "Review link",
    "field.review_url_hint": "Optional, e.g. your page on a review site. Shown after the answer.",
    "field.review_audience": "Who is offered the review link",
    "field.origins": "Allowed origins",
    "field.origins_hint": "One per line, like https://shop.example. Empty allows every site.",
    "field.recontact_days": "Ask again after (days)",
    "field.sample_percent": "Share of visitors asked (%)",
    "field.delay_seconds": "Delay before showing (seconds)",
    "field.color": "Colour",
    "field.position": "Position on the page",
    "kind.nps": "NPS (0–10)",
    "kind.csat": "CSAT (1–5)",
    "kind.ces": "CES (1–7)",
    "language.auto": "Automatic",
    "language.en": "English",
    "language.de": "German",
    "audience.all": "Everyone who answers",
    "audience.none": "Nobody (link off)",
    "position.bottom-right": "Bottom right",
    "position.bottom-left": "Bottom left",
    "position.top-right": "Top right",
    "position.top-left": "Top left",
    "survey.inactive_notice": "This survey is inactive: it is not shown and takes no answers.",
    "survey.deactivate_title": "Deactivate",
    "survey.activate_title": "Activate",
    "survey.deactivate_hint": "The widget and the link stop asking. Results are kept.",
    "survey.activate_hint": "The widget and the link ask again.",
    "survey.deactivate": "Deactivate survey",
    "survey.activate": "Activate survey",
    "survey.created": "The survey was created.",
    "survey.saved": "The changes were saved.",
    "survey.activated": "The survey is active again.",
    "survey.deactivated": "The survey was deactivated.",
    "form.has_errors": (
        "Please correct {count} field.",
        "Please correct {count} fields.",
    ),
    "form.basics": "Basics",
    "form.texts": "Texts in {language}",
    "form.texts_hint": "Leave a field empty to use the default text shown in it.",
    "form.review": "After the answer",
    "form.rules": "Where and when",
    "form.look": "Look",
    "form.save": "Save",
    "form.create": "Create survey",
    "embed.title": "Put it on your site",
    "embed.hint": "Paste the snippet into your pages, or send the link.",
    "embed.snippet": "Embed snippet",
    "embed.sri": "Snippet with integrity check (SRI)",
    "embed.sri_hint": "Pins this exact widget version; update it when the widget changes.",
    "embed.link": "Survey link",
    "embed.link_hint": "For emails and messages; works without JavaScript.",
    "copy.button": "Copy",
    "copy.done": "Copied",
    "copy.failed": "Could not copy; please select the text.",
    "error.required": "Please fill this in.",
    "error.too_long": "Please use at most {max} characters.",
    "error.choice": "Please choose one of the options.",
    "error.url": "Please enter a web address starting with https:// or http://.",
    "error.origin": "Not an origin like https://shop.example: {value}",
    "error.too_many": "Please list at most {max} origins.",
    "error.range": "Please enter a number from {low} to {high}.",
    "error.whole_range": "Please enter a whole number from {low} to {high}.",
    "error.color": "Please choose a colour like #1f5fbf.",
    "results.title": "Results",
    "results.period": "Month",
    "results.show": "Show",
    "results.nps": "NPS",
    "results.csat": "Average satisfaction",
    "results.ces": "Average ease",
    "results.nps_hint": "Promoters minus detractors, from −100 to +100.",
    "results.positive_share": "{share} answered 4 or 5",
    "results.ces_hint": "From 1 (very difficult) to 7 (very easy).",
    "results.split": "Answers by segment",
    "results.trend": "Daily trend",
    "results.trend_desc": "Bars show responses per day; the line shows the day's {figure}.",
    "results.legend_bars": "Responses per day (left axis)",
    "results.legend_line": "{figure} (right axis)",
    "results.as_table": "Show the figures as a table",
    "results.day": "Day",
    "results.responses": "Responses",
    "results.no_data": "No responses in this month.",
    "results.comments": "Comments",
    "results.export": "Export CSV",
    "results.filter": "Filter comments by segment",
    "results.all": "All",
    "results.pages": "Comment pages",
    "results.newer": "Newer",
    "results.older": "Older",
    "results.page_of": "Page {page} of {pages}",
    "results.no_comments": "No comments here.",
    "tariff.title": "Tariff",
    "tariff.current": "Current tariff",
    "tariff.per_month": "{budget} surveys a month",
    "tariff.pending": "Changes to {name} from {period}.",
    "tariff.cancel": "Keep the current tariff",
    "tariff.all": "All tariffs",
    "tariff.rule": "An upgrade applies at once. A downgrade applies from the next month.",
    "tariff.name": "Tariff",
    "tariff.budget": "Surveys a month",
    "tariff.is_current": "Current",
    "tariff.is_pending": "From next month",
    "tariff.upgrade": "Upgrade now",
    "tariff.downgrade": "Downgrade next month",
    "tariff.upgraded": "You are on {tariff} now.",
    "tariff.downgrade_scheduled": "{tariff} applies from {period}.",
    "tariff.unchanged": "You are already on {tariff}.",
    "tariff.cancelled": "The scheduled change was cancelled.",
    "account.title": "My account",
    "account.language": "Language",
    "account.language_label": "Language of these pages",
    "account.language_browser": "As in my browser",
    "account.password": "Password",
    "account.current_password": "Current password",
    "account.new_password": "New password",
    "account.password_hint": "At least {min} characters.",
    "account.repeat_password": "Repeat the new password",
    "account.change_password": "Change password",
    "account.sessions": "Sessions",
    "account.sessions_hint": "Ends your login on every device and in every browser, this one "
    "included. Use it when a device was lost or someone else may have used your login.",
    "account.logout_everywhere": "Log out everywhere",
    "sessions.ended_everywhere": "You were logged out on every device.",
    "password.mismatch": "The two new passwords differ.",
    "password.too_short": "The new password needs at least {min} characters.",
    "password.wrong": "The current password is not correct.",
    "password.changed": "Your password was changed. Other sessions were logged out.",
    "language.saved": "The language was saved.",
}

DE: dict[str, Message] = {
    **_SEGMENTS_DE,
    "nav.skip": "Zum Inhalt springen",
    "nav.label": "Hauptmenü",
    "nav.dashboard": "Übersicht",
    "nav.surveys": "Umfragen",
    "nav.tariff": "Tarif",
    "nav.account": "Mein Konto",
    "nav.logout": "Abmelden",
    "login.title": "Anmelden",
    "login.email": "E-Mail",
    "login.password": "Passwort",
    "login.submit": "Anmelden",
    "login.failed": "Die E-Mail-Adresse oder das Passwort ist nicht korrekt.",
    "dash.title": "Übersicht",
    "dash.no_surveys": "Sie haben noch keine Umfrage.",
    "dash.budget": "Verbleibendes Budget",
    "dash.remaining_of": "von {limit} Umfragen in diesem Monat übrig",
    "dash.used": "{used} von {limit} verbraucht",
    "dash.tariff": "Tarif {name}",
    "dash.resets": "Das Budget wird am {when} erneuert.",
    "dash.sync": "Letzte Datensynchronisierung",
    "dash.sync_detail": "{channel} von „{survey}“",
    "dash.origin": "Herkunft",
    "dash.no_origin": "keine (direkte Anfrage)",
    "dash.sync_none": "Noch kein Widget und kein Link hat sich gemeldet.",
    "dash.accepted": "Letztes angenommenes Feedback",
    "dash.accepted_survey": "Umfrage „{survey}“",
    "dash.accepted_none": "Noch kein Feedback angenommen.",
    "dash.refused": "Abgelehnt in diesem Monat",
    "dash.refused_hint": "Antworten, die abgelehnt wurden, weil das Budget verbraucht war. "
    "Sie sind verloren.",
    "dash.forecast": "Prognose",
    "dash.runs_out": "Beim aktuellen Tempo ist das Budget am {date} aufgebraucht.",
    "dash.lasts": "Beim aktuellen Tempo reicht das Budget diesen Monat.",
    "dash.no_pace": "In diesem Monat noch keine Antworten.",
    "dash.suggest": "Passender Tarif: {name} ({budget} im Monat).",
    "dash.to_tariff": "Tarif wechseln",
    "dash.nps": "NPS in diesem Monat (alle NPS-Umfragen)",
    "dash.responses": ("{count} Antwort", "{count} Antworten"),
    "dash.nps_none": "In diesem Monat noch keine NPS-Antworten.",
    "channel.widget": "Widget",
    "channel.link": "Link",
    "surveys.title": "Umfragen",
    "surveys.new": "Neue Umfrage",
    "surveys.status": "Status",
    "surveys.actions": "Aktionen",
    "surveys.active": "Aktiv",
    "surveys.inactive": "Inaktiv",
    "surveys.results": "Ergebnisse",
    "surveys.none": "Noch keine Umfragen.",
    "field.name": "Name",
    "field.kind": "Art",
    "field.kind_fixed": "nicht änderbar",
    "field.language": "Sprache für Besucher",
    "field.language_hint": "Automatisch folgt dem Browser des Besuchers (Deutsch oder Englisch).",
    "field.question": "Frage",
    "field.low_label": "Beschriftung am unteren Ende",
    "field.high_label": "Beschriftung am oberen Ende",
    "field.follow_for": "Folgefrage: {segment} ({range})",
    "field.follow_slot0": "Folgefrage nach einem niedrigen Wert",
    "field.follow_slot1": "Folgefrage nach einem mittleren Wert",
    "field.follow_slot2": "Folgefrage nach einem hohen Wert",
    "field.follow_slot_hint": "NPS {nps}, CSAT {csat}, CES {ces}",
    "field.review_url": "Bewertungslink",
    "field.review_url_hint": "Optional, z. B. Ihre Seite auf einem Bewertungsportal. "
    "Erscheint nach der Antwort.",
    "field.review_audience": "Wem der Bewertungslink angeboten wird",
    "field.origins": "Erlaubte Origins",
    "field.origins_hint": "Eine pro Zeile, z. B. https://shop.example. Leer erlaubt jede Website.",
    "field.recontact_days": "Erneut fragen nach (Tagen)",
    "field.sample_percent": "Anteil gefragter Besucher (%)",
    "field.delay_seconds": "Verzögerung (Sekunden)",
    "field.color": "Farbe",
    "field.position": "Position auf der Seite",
    "kind.nps": "NPS (0–10)",
    "kind.csat": "CSAT (1–5)",
    "kind.ces": "CES (1–7)",
    "language.auto": "Automatisch",
    "language.en": "Englisch",
    "language.de": "Deutsch",
    "audience.all": "Allen, die antworten",
    "audience.none": "Niemandem (Link aus)",
    "position.bottom-right": "Unten rechts",
    "position.bottom-left": "Unten links",
    "position.top-right": "Oben rechts",
    "position.top-left": "Oben links",
    "survey.inactive_notice": "Diese Umfrage ist inaktiv: Sie wird nicht gezeigt und nimmt "
    "keine Antworten an.",
    "survey.deactivate_title": "Deaktivieren",
    "survey.activate_title": "Aktivieren",
    "survey.deactivate_hint": "Widget und Link fragen nicht mehr. Die Ergebnisse bleiben.",
    "survey.activate_hint": "Widget und Link fragen wieder.",
    "survey.deactivate": "Umfrage deaktivieren",
    "survey.activate": "Umfrage aktivieren",
    "survey.created": "Die Umfrage wurde angelegt.",
    "survey.saved": "Die Änderungen wurden gespeichert.",
    "survey.activated": "Die Umfrage ist wieder aktiv.",
    "survey.deactivated": "Die Umfrage wurde deaktiviert.",
    "form.has_errors": (
        "Bitte korrigieren Sie {count} Feld.",
        "Bitte korrigieren Sie {count} Felder.",
    ),
    "form.basics": "Grundlagen",
    "form.texts": "Texte auf {language}",
    "form.texts_hint": "Lassen Sie ein Feld leer, um den darin gezeigten Standardtext zu nutzen.",
    "form.review": "Nach der Antwort",
    "form.rules": "Wo und wann",
    "form.look": "Aussehen",
    "form.save": "Speichern",
    "form.create": "Umfrage anlegen",
    "embed.title": "Auf Ihrer Website einbinden",
    "embed.hint": "Fügen Sie das Snippet in Ihre Seiten ein oder verschicken Sie den Link.",
    "embed.snippet": "Einbettungs-Snippet",
    "embed.sri": "Snippet mit Integritätsprüfung (SRI)",
    "embed.sri_hint": "Legt genau diese Widget-Version fest; bei einem neuen Widget aktualisieren.",
    "embed.link": "Umfragelink",
    "embed.link_hint": "Für E-Mails und Nachrichten; funktioniert ohne JavaScript.",
    "copy.button": "Kopieren",
    "copy.done": "Kopiert",
    "copy.failed": "Kopieren fehlgeschlagen; bitte markieren Sie den Text.",
    "error.required": "Bitte füllen Sie dieses Feld aus.",
    "error.too_long": "Bitte höchstens {max} Zeichen.",
    "error.choice": "Bitte wählen Sie eine der Möglichkeiten.",
    "error.url": "Bitte eine Webadresse mit https:// oder http:// angeben.",
    "error.origin": "Keine Origin wie https://shop.example: {value}",
    "error.too_many": "Bitte höchstens {max} Origins angeben.",
    "error.range": "Bitte eine Zahl von {low} bis {high} angeben.",
    "error.whole_range": "Bitte eine ganze Zahl von {low} bis {high} angeben.",
    "error.color": "Bitte eine Farbe wie #1f5fbf wählen.",
    "results.title": "Ergebnisse",
    "results.period": "Monat",
    "results.show": "Anzeigen",
    "results.nps": "NPS",
    "results.csat": "Durchschnittliche Zufriedenheit",
    "results.ces": "Durchschnittliche Einfachheit",
    "results.nps_hint": "Promoter minus Kritiker, von −100 bis +100.",
    "results.positive_share": "{share} antworteten mit 4 oder 5",
    "results.ces_hint": "Von 1 (sehr schwierig) bis 7 (sehr einfach).",
    "results.split": "Antworten nach Segment",
    "results.trend": "Tagesverlauf",
    "results.trend_desc": "Balken zeigen die Antworten pro Tag, die Linie den {figure} des Tages.",
    "results.legend_bars": "Antworten pro Tag (linke Achse)",
    "results.legend_line": "{figure} (rechte Achse)",
    "results.as_table": "Zahlen als Tabelle zeigen",
    "results.day": "Tag",
    "results.responses": "Antworten",
    "results.no_data": "Keine Antworten in diesem Monat.",
    "results.comments": "Kommentare",
    "results.export": "CSV exportieren",
    "results.filter": "Kommentare nach Segment filtern",
    "results.all": "Alle",
    "results.pages": "Kommentarseiten",
    "results.newer": "Neuere",
    "results.older": "Ältere",
    "results.page_of": "Seite {page} von {pages}",
    "results.no_comments": "Keine Kommentare.",
    "tariff.title": "Tarif",
    "tariff.current": "Aktueller Tarif",
    "tariff.per_month": "{budget} Umfragen im Monat",
    "tariff.pending": "Wechsel zu {name} ab {period}.",
    "tariff.cancel": "Aktuellen Tarif behalten",
    "tariff.all": "Alle Tarife",
    "tariff.rule": "Ein Upgrade gilt sofort, ein Downgrade ab dem nächsten Monat.",
    "tariff.name": "Tarif",
    "tariff.budget": "Umfragen im Monat",
    "tariff.is_current": "Aktuell",
    "tariff.is_pending": "Ab nächstem Monat",
    "tariff.upgrade": "Jetzt upgraden",
    "tariff.downgrade": "Downgrade zum nächsten Monat",
    "tariff.upgraded": "Sie nutzen jetzt {tariff}.",
    "tariff.downgrade_scheduled": "{tariff} gilt ab {period}.",
    "tariff.unchanged": "Sie nutzen bereits {tariff}.",
    "tariff.cancelled": "Der geplante Wechsel wurde zurückgenommen.",
    "account.title": "Mein Konto",
    "account.language": "Sprache",
    "account.language_label": "Sprache dieser Seiten",
    "account.language_browser": "Wie in meinem Browser",
    "account.password": "Passwort",
    "account.current_password": "Aktuelles Passwort",
    "account.new_password": "Neues Passwort",
    "account.password_hint": "Mindestens {min} Zeichen.",
    "account.repeat_password": "Neues Passwort wiederholen",
    "account.change_password": "Passwort ändern",
    "account.sessions": "Sitzungen",
    "account.sessions_hint": "Beendet Ihre Anmeldung auf allen Geräten und in allen Browsern, "
    "auch in diesem. Nutzen Sie das, wenn ein Gerät verloren ging oder jemand anderes Ihre "
    "Anmeldung benutzt haben könnte.",
    "account.logout_everywhere": "Überall abmelden",
    "sessions.ended_everywhere": "Sie wurden auf allen Geräten abgemeldet.",
    "password.mismatch": "Die beiden neuen Passwörter stimmen nicht überein.",
    "password.too_short": "Das neue Passwort braucht mindestens {min} Zeichen.",
    "password.wrong": "Das aktuelle Passwort ist nicht korrekt.",
    "password.changed": "Ihr Passwort wurde geändert. Andere Sitzungen wurden abgemeldet.",
    "language.saved": "Die Sprache wurde gespeichert.",
}

CATALOGS: dict[str, dict[str, Message]] = {"en": EN, "de": DE}

MONTHS = {
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    "de": [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ],
}


def translate(language: str, key: str, /, **params: Any) -> str:
    """The message for ``key`` in ``language`` (English, then the key itself, as fallbacks)."""
    message = CATALOGS.get(language, EN).get(key) or EN.get(key) or key
    if isinstance(message, tuple):
        one, other = message
        message = one if str(params.get("count")) == "1" else other
    return message.format(**params) if params else message


def translator(language: str) -> Callable[..., str]:
    def lookup(key: str, /, **params: Any) -> str:
        return translate(language, key, **params)

    return lookup


class Formatter:
    """Numbers, dates and times as people of ``language`` write them, times
    in the billing time zone."""

    def __init__(self, language: str, zone: ZoneInfo) -> None:
        self.language = language
        self.zone = zone

    def number(self, value: int) -> str:
        text = f"{value:,}"
        return text.replace(",", ".") if self.language == "de" else text

    def decimal(self, value: float, places: int = 1) -> str:
        # Half up, as people round (3.25 -> 3.3), not to the nearest even digit.
        rounded = Decimal(str(value)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
        text = f"{rounded:,.{places}f}"
        if self.language == "de":
            text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
        return text

    def percent(self, share: float) -> str:
        value = round(share * 100)
        return f"{value} %" if self.language == "de" else f"{value}%"

    def signed(self, value: int | None) -> str:
        if value is None:
            return "–"
        return f"+{value}" if value > 0 else ("0" if value == 0 else f"\u2212{-value}")

    def value(self, kind: str, value: float | None) -> str:
        """A day's figure: whole NPS points, or an average with one decimal."""
        if value is None:
            return "–"
        return self.signed(round(value)) if kind == "nps" else self.decimal(value)

    def date(self, day: date) -> str:
        month = MONTHS[self.language][day.month - 1]
        if self.language == "de":
            return f"{day.day}. {month} {day.year}"
        return f"{day.day} {month} {day.year}"

    def datetime(self, moment: datetime) -> str:
        local = moment.astimezone(self.zone)
        return f"{self.date(local.date())}, {local:%H:%M} {local.tzname()}"

    def period(self, period: str) -> str:
        year, month = (int(part) for part in period.split("-"))
        return f"{MONTHS[self.language][month - 1]} {year}"
