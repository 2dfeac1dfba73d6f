"""The survey settings form: raw fields in, validated column values or
per-field errors out. Errors and warnings are message keys (see app.platform.i18n)
with parameters, so the page can say what is wrong in the admin's language
and, where the fix is plain, what was probably meant."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from app.answers import rewards
from app.inbox import items as inbox
from app.platform import i18n
from app.platform.text import clean_text
from app.surveys import model as surveys
from app.surveys import questions, scales
from app.surveys.model import Survey
from app.surveys.questions import Question

TEXT_KEYS = ("question", "low_label", "high_label")
# What an invitation e-mail says before the question; the intro keeps its line breaks.
EMAIL_KEYS = ("email_subject", "email_intro")
FOLLOW_SLOTS = 3  # one follow-up per segment, from the bottom of the scale up
LIMITS = {
    "name": 200,
    "question": 300,
    "low_label": 80,
    "high_label": 80,
    "follow": 300,
    "thanks": 200,
    "email_subject": 150,
    "email_intro": 1000,
}
EMAIL_DELAY_MAX = 365
CHECKED = frozenset({"1", "on", "true"})
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
MAX_ORIGINS = 50
MAX_ALERT_EMAILS = 10
ALERT_EMAIL_MAX = 254
ALERT_EMAIL = re.compile(
    r"[^@\s<>()\[\]\\,;:\"]{1,64}@[^@\s<>()\[\]\\,;:\"]+\.[^@\s.<>()\[\]\\,;:\"]+"
)
# Plain http is what a site on the owner's own machine uses.
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
HOST = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
# Past this many characters a question covers most of a phone's screen.
LONG_QUESTION = 140
# The form's parts, in the page's order. admin.js shows one at a time and
# sends the one in hand as ``part``, so that saving comes back to it.
PARTS = ("basics", "texts", "questions", "after", "rules", "email", "inbox", "look")


def part_fragment(value: str) -> str:
    """The page's #fragment of the part a form was sent from; empty for none."""
    return f"#section-{value}" if value in PARTS else ""


# Characters per line of the widget's question (17 px, semibold) in its card
# on a 375 px wide phone: 351 px card, less padding and the close button.
PHONE_LINE = 30

QUESTION_SLOTS = questions.MAX_QUESTIONS  # fixed slots: the form works without JavaScript

Error = tuple[str, dict[str, Any]]


def text_field(language: str, key: str) -> str:
    return f"{language}_{key}"


def follow_field(language: str, slot: int) -> str:
    return f"{language}_follow_{slot}"


def thanks_field(language: str, slot: int) -> str:
    return f"{language}_thanks_{slot}"


def reward_field(slot: int) -> str:
    return f"reward_{slot}"


def reward_code_field(slot: int) -> str:
    return f"reward_code_{slot}"


def question_field(slot: int, key: str, language: str | None = None) -> str:
    """A follow-up question slot's field: ``q0_kind``, ``en_q0_label``, ``q0_seg_2``."""
    return f"{language}_q{slot}_{key}" if language else f"q{slot}_{key}"


def question_field_names() -> list[str]:
    names: list[str] = []
    for slot in range(QUESTION_SLOTS):
        names += [question_field(slot, key) for key in ("id", "kind", "order", "max")]
        names += [question_field(slot, f"seg_{band}") for band in range(FOLLOW_SLOTS)]
        for language in i18n.LANGUAGES:
            names += [question_field(slot, key, language) for key in ("label", "options")]
    return names


def field_names() -> list[str]:
    names = [
        "name",
        "kind",
        "language",
        "review_url",
        "review_audience",
        "origins",
        "recontact_days",
        "sample_percent",
        "delay_seconds",
        "color",
        "position",
        "email_delay_days",
        "anonymous",
        "inbox_rule",
        "alert_emails",
    ]
    for slot in range(FOLLOW_SLOTS):
        names += [reward_field(slot), reward_code_field(slot)]
    for language in i18n.LANGUAGES:
        names += [text_field(language, key) for key in TEXT_KEYS]
        names += [follow_field(language, slot) for slot in range(FOLLOW_SLOTS)]
        names += [thanks_field(language, slot) for slot in range(FOLLOW_SLOTS)]
        names += [text_field(language, key) for key in EMAIL_KEYS]
    return names + question_field_names()


@dataclass
class SurveyForm:
    fields: dict[str, str]
    errors: dict[str, Error] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def warnings(self) -> dict[str, Error]:
        """Advice that does not stop saving: long questions, per field."""
        found: dict[str, Error] = {}
        for language in i18n.LANGUAGES:
            name = text_field(language, "question")
            text = one_line(self.fields.get(name, ""))
            if len(text) > LONG_QUESTION:
                found[name] = ("form.long_question", {"lines": phone_lines(text)})
        return found


def one_line(text: str) -> str:
    """A survey text as the widget shows it: line breaks and runs of blanks
    collapse to one space there anyway."""
    return " ".join(clean_text(text).split())


def phone_lines(text: str) -> int:
    """About how many lines ``text`` takes as the widget's question on a
    375 px wide phone, wrapped word by word."""
    lines, used = 1, 0
    for word in text.split():
        for start in range(0, len(word), PHONE_LINE):
            piece = len(word[start : start + PHONE_LINE])
            wanted = piece if used == 0 else used + 1 + piece
            if wanted <= PHONE_LINE:
                used = wanted
            else:
                lines, used = lines + 1, piece
    return lines


def score_ranges(kind: str) -> list[str]:
    """The scores of each segment of ``kind``, e.g. 0-6, 7-8 and 9-10 for nps (with en dashes)."""
    return scales.scale(kind).ranges()


def blank(kind: str = "nps") -> SurveyForm:
    """A new survey's form with the usual settings filled in."""
    fields = dict.fromkeys(field_names(), "")
    fields.update(
        kind=kind,
        language="auto",
        review_audience="promoters",
        recontact_days="90",
        sample_percent="100",
        delay_seconds="0",
        color="#1f5fbf",
        position="bottom-right",
        email_delay_days="0",
        inbox_rule=inbox.RULES[0],
        **{reward_field(slot): "none" for slot in range(FOLLOW_SLOTS)},
    )
    fields.update(_empty_slots(0))
    return SurveyForm(fields)


def _empty_slots(first: int) -> dict[str, str]:
    """Unused question slots from ``first`` on: asked of every segment once used."""
    fields: dict[str, str] = {}
    for slot in range(first, QUESTION_SLOTS):
        fields[question_field(slot, "order")] = str(slot + 1)
        fields[question_field(slot, "max")] = str(questions.DEFAULT_PICKS)
        for band in range(FOLLOW_SLOTS):
            fields[question_field(slot, f"seg_{band}")] = "1"
    return fields


def from_survey(survey: Survey) -> SurveyForm:
    """The form as it shows a stored survey."""
    fields = dict.fromkeys(field_names(), "")
    fields.update(
        name=survey.name,
        kind=survey.kind,
        language=survey.language,
        review_url=survey.review_url or "",
        review_audience=survey.review_audience,
        origins="\n".join(survey.allowed_origins),
        recontact_days=str(survey.recontact_days),
        sample_percent=_number_text(survey.sample_rate * 100),
        delay_seconds=_number_text(survey.delay_ms / 1000),
        color=survey.color,
        position=survey.position,
        email_delay_days=str(survey.email_delay_days),
        anonymous="1" if survey.anonymous else "",
        inbox_rule=survey.inbox_rule,
        alert_emails="\n".join(survey.alert_emails),
    )
    names = scales.segments(survey.kind)
    for slot, segment in enumerate(names):
        reward = rewards.reward_of(survey, segment)
        fields[reward_field(slot)] = reward["type"] if reward is not None else "none"
        fields[reward_code_field(slot)] = rewards.fixed_code(survey, segment) or ""
    for language in i18n.LANGUAGES:
        own = survey.texts.get(language) or {}
        for key in (*TEXT_KEYS, *EMAIL_KEYS):
            fields[text_field(language, key)] = own.get(key, "")
        follow = own.get("follow_up") or {}
        thanks = own.get("thanks") or {}
        for slot, segment in enumerate(names):
            fields[follow_field(language, slot)] = follow.get(segment, "")
            fields[thanks_field(language, slot)] = thanks.get(segment, "")
    for slot, question in enumerate(survey.questions[:QUESTION_SLOTS]):
        fields.update(_question_fields(slot, question, names))
    fields.update(_empty_slots(len(survey.questions)))
    return SurveyForm(fields)


def _question_fields(slot: int, question: Question, segments: tuple[str, ...]) -> dict[str, str]:
    fields = {
        question_field(slot, "id"): question.id,
        question_field(slot, "kind"): question.kind,
        question_field(slot, "order"): str(slot + 1),
        question_field(slot, "max"): str(question.max_picks),
    }
    for band, segment in enumerate(segments):
        fields[question_field(slot, f"seg_{band}")] = "1" if question.shown_to(segment) else ""
    for language in i18n.LANGUAGES:
        fields[question_field(slot, "label", language)] = question.labels.get(language, "")
        fields[question_field(slot, "options", language)] = "\n".join(
            option.labels.get(language, "") for option in question.options
        ).strip("\n")
    return fields


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def parse(
    raw: Mapping[str, str], *, kind: str | None = None, asked: tuple[Question, ...] = ()
) -> SurveyForm:
    """Validate a submitted form. ``kind`` is the stored survey's kind when
    editing (it cannot change); when creating it comes from the form.
    ``asked`` are the stored survey's questions, whose ids are kept."""
    fields = {name: str(raw.get(name, "")) for name in field_names()}
    form = SurveyForm(fields)
    if kind is not None:
        fields["kind"] = kind
    chosen = fields["kind"]
    if chosen not in scales.KINDS:
        form.errors["kind"] = ("error.choice", {})
        chosen = "nps"
    values: dict[str, Any] = {"kind": chosen}
    values["name"] = _name(form)
    values["language"] = _choice(form, "language", (*i18n.LANGUAGES, "auto"))
    values["texts"] = _texts(form, chosen)
    values["review_url"] = _review_url(form)
    values["review_audience"] = _choice(form, "review_audience", surveys.REVIEW_AUDIENCES)
    values["rewards"] = _rewards(form, chosen)
    values["allowed_origins"] = _origins(form)
    values["recontact_days"] = _integer(form, "recontact_days", 0, 3650)
    percent = _number(form, "sample_percent", 1, 100)
    values["sample_rate"] = None if percent is None else round(percent / 100, 4)
    seconds = _number(form, "delay_seconds", 0, 600)
    values["delay_ms"] = None if seconds is None else round(seconds * 1000)
    values["color"] = _color(form)
    values["position"] = _choice(form, "position", surveys.POSITIONS)
    # Left empty, invitations go out without a delay.
    if not fields["email_delay_days"].strip():
        fields["email_delay_days"] = "0"
    values["email_delay_days"] = _integer(form, "email_delay_days", 0, EMAIL_DELAY_MAX)
    values["anonymous"] = fields["anonymous"].strip().lower() in CHECKED
    # Left out (an older form, a script), the inbox keeps its default rule.
    if not fields["inbox_rule"]:
        fields["inbox_rule"] = inbox.RULES[0]
    values["inbox_rule"] = _choice(form, "inbox_rule", inbox.RULES)
    values["alert_emails"] = _alert_emails(form)
    values["questions"] = _questions(form, chosen, asked)
    form.values = values
    return form


def _name(form: SurveyForm) -> str:
    name = clean_text(form.fields["name"])
    if not name:
        form.errors["name"] = ("error.required", {})
    elif len(name) > LIMITS["name"]:
        form.errors["name"] = ("error.too_long", {"max": LIMITS["name"], "count": len(name)})
    return name


def _choice(form: SurveyForm, name: str, allowed: tuple[str, ...]) -> str:
    value = form.fields[name]
    if value not in allowed:
        form.errors[name] = ("error.choice", {})
    return value


def _short_text(form: SurveyForm, name: str, limit: int) -> str:
    # Never cut: the admin sees how long it is and what the limit is, and
    # the page keeps the whole text to shorten.
    text = one_line(form.fields[name])
    if len(text) > limit:
        form.errors[name] = ("error.too_long", {"max": limit, "count": len(text)})
    return text


def _long_text(form: SurveyForm, name: str, limit: int) -> str:
    """A text whose line breaks count: paragraphs of an e-mail."""
    text = "\n".join(line.rstrip() for line in clean_text(form.fields[name]).split("\n"))
    if len(text) > limit:
        form.errors[name] = ("error.too_long", {"max": limit, "count": len(text)})
    return text


def email_defaults(account: str) -> dict[str, dict[str, str]]:
    """What an invitation of ``account`` says where a survey has no subject
    or intro of its own, per language: the form's placeholders."""
    defaults: dict[str, dict[str, str]] = {}
    for language in i18n.LANGUAGES:
        # email.subject and email.intro are the invitation's own defaults.
        defaults[language] = {
            key: i18n.translate(language, f"email.{key.removeprefix('email_')}", account=account)
            if i18n.lookup(language, f"email.{key.removeprefix('email_')}") is not None
            else ""
            for key in EMAIL_KEYS
        }
    return defaults


def _texts(form: SurveyForm, kind: str) -> dict[str, Any]:
    """Only what the admin wrote is stored; empty fields use the defaults."""
    texts: dict[str, Any] = {}
    for language in i18n.LANGUAGES:
        entry: dict[str, Any] = {}
        for key in TEXT_KEYS:
            text = _short_text(form, text_field(language, key), LIMITS[key])
            if text:
                entry[key] = text
        follow = {}
        for slot, segment in enumerate(scales.segments(kind)):
            text = _short_text(form, follow_field(language, slot), LIMITS["follow"])
            if text:
                follow[segment] = text
        if follow:
            entry["follow_up"] = follow
        thanks = {}
        for slot, segment in enumerate(scales.segments(kind)):
            text = _short_text(form, thanks_field(language, slot), LIMITS["thanks"])
            if text:
                thanks[segment] = text
        if thanks:
            entry["thanks"] = thanks
        subject = _short_text(form, text_field(language, "email_subject"), LIMITS["email_subject"])
        intro = _long_text(form, text_field(language, "email_intro"), LIMITS["email_intro"])
        if subject:
            entry["email_subject"] = subject
        if intro:
            entry["email_intro"] = intro
        if entry:
            texts[language] = entry
    return texts


def _alert_emails(form: SurveyForm) -> list[str]:
    """One address a line (commas and semicolons part them too), each once."""
    found: list[str] = []
    for part in re.split(r"[\s,;]+", form.fields["alert_emails"]):
        if not part:
            continue
        if len(part) > ALERT_EMAIL_MAX or not ALERT_EMAIL.fullmatch(part) or ".." in part:
            form.errors["alert_emails"] = ("error.alert_email", {"value": part[:80]})
            return []
        if part.lower() not in {item.lower() for item in found}:
            found.append(part)
    if len(found) > MAX_ALERT_EMAILS:
        form.errors["alert_emails"] = ("error.too_many_alerts", {"max": MAX_ALERT_EMAILS})
        return []
    return found


def _rewards(form: SurveyForm, kind: str) -> dict[str, Any]:
    """The reward per segment: a fixed code is checked like a pool's codes."""
    found: dict[str, Any] = {}
    for slot, segment in enumerate(scales.segments(kind)):
        if not form.fields[reward_field(slot)]:
            form.fields[reward_field(slot)] = "none"
        chosen = _choice(form, reward_field(slot), rewards.TYPES)
        code = form.fields[reward_code_field(slot)].strip()
        if chosen == "fixed":
            problem = rewards.code_problem(code)
            if problem is not None:
                name = reward_code_field(slot)
                form.errors[name] = (problem, {"max": rewards.CODE_MAX, "lines": code[:40]})
            found[segment] = {"type": "fixed", "code": code}
        elif chosen == "pool":
            found[segment] = {"type": "pool"}
    return found


def _review_url(form: SurveyForm) -> str | None:
    url = form.fields["review_url"].strip()
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname or len(url) > 2048:
        form.errors["review_url"] = ("error.url", {})
    return url


def _origins(form: SurveyForm) -> list[str]:
    origins: list[str] = []
    for line in form.fields["origins"].splitlines():
        if not line.strip():
            continue
        origin, error = _origin(line.strip())
        if error is not None:
            form.errors["origins"] = error
            return []
        if origin not in origins:
            origins.append(origin)
    if len(origins) > MAX_ORIGINS:
        form.errors["origins"] = ("error.too_many", {"max": MAX_ORIGINS})
    return origins


def _origin(value: str) -> tuple[str, Error | None]:
    """``value`` as an origin, or why it is none with the likely fix: a bare
    host gets a scheme, a page address loses its path (a lone slash is fine)."""
    shown = value[:80]
    # Without a scheme, urlsplit reads "localhost:8090" as scheme and path.
    bare = "://" not in value
    try:
        parts = urlsplit(f"//{value}" if bare else value)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "", ("error.origin", {"value": shown})
    if not host or parts.username is not None or parts.password is not None:
        return "", ("error.origin", {"value": shown})
    if bare:
        if not _plausible_host(host):
            return "", ("error.origin", {"value": shown})
        scheme = "http" if host in LOCAL_HOSTS else "https"
        suggestion = _join(scheme, host, port)
        return "", ("error.origin_scheme", {"value": shown, "suggestion": suggestion})
    if parts.scheme not in {"http", "https"} or not (HOST.match(host) or ":" in host):
        return "", ("error.origin", {"value": shown})
    origin = _join(parts.scheme, host, port)
    if parts.path not in {"", "/"} or parts.query or parts.fragment:
        return "", ("error.origin_path", {"value": shown, "suggestion": origin})
    return origin, None


def _plausible_host(host: str) -> bool:
    # A lone word is more likely a slip than a host; names need a dot.
    return host in LOCAL_HOSTS or ("." in host and HOST.match(host) is not None)


def _join(scheme: str, host: str, port: int | None) -> str:
    shown_host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown_host}{f':{port}' if port else ''}"


def _number(form: SurveyForm, name: str, low: float, high: float) -> float | None:
    text = form.fields[name].strip().replace(",", ".")
    try:
        number = float(text) if len(text) <= 12 else None
    except ValueError:
        number = None
    if number is None or number != number or not low <= number <= high:
        form.errors[name] = ("error.range", {"low": _number_text(low), "high": _number_text(high)})
        return None
    return number


def _integer(form: SurveyForm, name: str, low: int, high: int) -> int | None:
    text = form.fields[name].strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 6) or not low <= int(text) <= high:
        form.errors[name] = ("error.whole_range", {"low": low, "high": high})
        return None
    return int(text)


def _color(form: SurveyForm) -> str:
    color = form.fields["color"].strip()
    if not COLOR.match(color):
        form.errors["color"] = ("error.color", {})
    return color.lower()


# -- follow-up questions ---------------------------------------------------------


def _questions(form: SurveyForm, kind: str, asked: tuple[Question, ...]) -> list[dict[str, Any]]:
    """The used slots as stored questions, in the order the admin numbered
    them. A slot whose type is "not asked" is dropped with its texts."""
    stored = {question.id: question for question in asked}
    found: list[tuple[int, int, dict[str, Any]]] = []
    for slot in range(QUESTION_SLOTS):
        chosen = form.fields[question_field(slot, "kind")].strip()
        if not chosen:
            continue
        if chosen not in questions.KINDS:
            form.errors[question_field(slot, "kind")] = ("error.choice", {})
            continue
        # Only this survey's own ids are kept; anything else starts afresh.
        previous = stored.get(form.fields[question_field(slot, "id")].strip())
        entry = _question(form, slot, kind, chosen, previous)
        order = form.fields[question_field(slot, "order")].strip()
        position = int(order) if order.isascii() and order.isdigit() and len(order) < 4 else slot
        found.append((position, slot, entry))
    found.sort(key=lambda item: (item[0], item[1]))
    return [entry for _, _, entry in found]


def _question(
    form: SurveyForm, slot: int, kind: str, chosen: str, previous: Question | None
) -> dict[str, Any]:
    labels: dict[str, str] = {}
    for language in i18n.LANGUAGES:
        text = _short_text(form, question_field(slot, "label", language), questions.LABEL_MAX)
        if text:
            labels[language] = text
    if not labels:
        form.errors[question_field(slot, "label", i18n.LANGUAGES[0])] = ("form.q.label_missing", {})
    names = scales.segments(kind)
    picked = [
        segment
        for band, segment in enumerate(names)
        if form.fields[question_field(slot, f"seg_{band}")].strip().lower() in CHECKED
    ]
    if not picked:
        form.errors[question_field(slot, "seg_0")] = ("form.q.segments_missing", {})
    entry: dict[str, Any] = {
        "id": previous.id if previous is not None else questions.new_id("q"),
        "kind": chosen,
        "labels": labels,
    }
    if picked and len(picked) < len(names):
        entry["segments"] = picked
    if chosen in questions.CHOICE_KINDS:
        entry["options"] = _options(form, slot, previous.options if previous else ())
    if chosen == "tags":
        picks = _integer(form, question_field(slot, "max"), 1, questions.MAX_PICKS)
        entry["max_picks"] = picks or questions.DEFAULT_PICKS
    return entry


def _options(
    form: SurveyForm, slot: int, previous: tuple[questions.Option, ...]
) -> list[dict[str, Any]]:
    """One option per line and language, the lines of each language in the
    same order. Ids are kept for options whose label is unchanged in some
    language (even when moved), then by position (an edited label)."""
    lines: dict[str, list[str]] = {}
    for language in i18n.LANGUAGES:
        name = question_field(slot, "options", language)
        listed = [one_line(line) for line in form.fields[name].splitlines()]
        listed = [line for line in listed if line]
        if listed:
            lines[language] = listed
            _check_option_lines(form, name, listed)
    first = question_field(slot, "options", i18n.LANGUAGES[0])
    if not lines:
        form.errors[first] = ("form.q.options_missing", {})
        return []
    counts = {language: len(listed) for language, listed in lines.items()}
    count = max(counts.values())
    if len(set(counts.values())) > 1:
        shorter = min(counts, key=lambda language: counts[language])
        form.errors[question_field(slot, "options", shorter)] = (
            "form.q.options_mismatch",
            {"count": counts[shorter], "wanted": count},
        )
    elif count < 2:
        form.errors[first] = ("form.q.options_few", {})
    elif count > questions.MAX_OPTIONS:
        form.errors[first] = ("form.q.options_many", {"max": questions.MAX_OPTIONS, "count": count})
    options = [
        {"labels": {lang: listed[at] for lang, listed in lines.items() if at < len(listed)}}
        for at in range(count)
    ]
    _keep_ids(options, previous)
    return options


def _check_option_lines(form: SurveyForm, name: str, listed: list[str]) -> None:
    seen: set[str] = set()
    for line in listed:
        if len(line) > questions.OPTION_MAX:
            form.errors[name] = (
                "form.q.option_too_long",
                {"value": line[:40], "count": len(line), "max": questions.OPTION_MAX},
            )
            return
        if line.casefold() in seen:
            form.errors[name] = ("form.q.option_twice", {"value": line})
            return
        seen.add(line.casefold())


def _keep_ids(options: list[dict[str, Any]], previous: tuple[questions.Option, ...]) -> None:
    claimed: set[str] = set()
    for option in options:  # the same label in some language: the same option
        match = next(
            (
                old
                for old in previous
                if old.id not in claimed
                and any(old.labels.get(lang) == text for lang, text in option["labels"].items())
            ),
            None,
        )
        if match is not None:
            option["id"] = match.id
            claimed.add(match.id)
    for at, option in enumerate(options):  # an edited label keeps its place's id
        if "id" in option:
            continue
        if at < len(previous) and previous[at].id not in claimed:
            option["id"] = previous[at].id
            claimed.add(previous[at].id)
        else:
            option["id"] = questions.new_id("o")
    for option in options:  # the id first, as the stored shape has it
        option["labels"] = option.pop("labels")
