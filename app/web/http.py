"""What every web module needs from a request: a size-capped body, forms and
JSON read from it, the visitor's language, query parameters (a page number, a
billing month), and addresses of static files that change when the file does.

The readers raise :class:`Problem`, which ``errors`` renders as problem+json
for the API and as a page for people.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from app.web.problem import Problem

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"
FORM_TYPE = "application/x-www-form-urlencoded"
PERIOD = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
# JSON may escape half of a UTF-16 pair alone ("\\ud800"): Python decodes it to
# a string that no database can store. Only bodies with such an escape are checked.
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
# No data is older than this month.
FIRST_PERIOD = "2000-01"
# A survey page's display that answered, kept by the browser (``remember_answer``).
ANSWERED_COOKIE = "answered"


def too_large(limit: int) -> Problem:
    return Problem(413, "payload_too_large", f"The body is larger than {limit} bytes.")


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused with 413 as soon as it passes ``limit`` bytes,
    whether it declared its length or came chunked without one."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise too_large(limit)
    return bytes(body)


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_form(request: Request, limit: int, *, max_fields: int = 200) -> dict[str, str]:
    """An urlencoded form (the last of repeated names wins); 415 for another
    media type, 400 when it cannot be decoded."""
    if media_type(request) not in {FORM_TYPE, ""}:
        raise Problem(415, "unsupported_media_type", "Send the form as a web form.")
    body = await read_body(request, limit)
    try:
        return dict(
            parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=max_fields)
        )
    except (UnicodeDecodeError, ValueError):
        raise Problem(400, "bad_form", "The form could not be read.") from None


async def read_form_lists(
    request: Request, limit: int, *, max_fields: int = 200
) -> dict[str, list[str]]:
    """An urlencoded form with every value of a repeated name (checkboxes),
    in order; refused like ``read_form``."""
    if media_type(request) not in {FORM_TYPE, ""}:
        raise Problem(415, "unsupported_media_type", "Send the form as a web form.")
    body = await read_body(request, limit)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=max_fields)
    except (UnicodeDecodeError, ValueError):
        raise Problem(400, "bad_form", "The form could not be read.") from None
    form: dict[str, list[str]] = {}
    for name, value in pairs:
        form.setdefault(name, []).append(value)
    return form


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """A JSON object sent as application/json or text/plain (the latter needs
    no CORS preflight, which keeps a widget's submission to one request)."""
    if media_type(request) not in {"application/json", "text/plain", ""}:
        raise Problem(415, "unsupported_media_type", "Send JSON as application/json or text/plain.")
    body = await read_body(request, limit)
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # deep nesting fits in a small body
        raise Problem(400, "invalid_json", "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise Problem(400, "invalid_json", "The body must be a JSON object.")
    if SURROGATE_ESCAPE.search(body) and not _is_unicode(data):
        raise Problem(400, "invalid_json", "The body escapes half of a Unicode character.")
    return data


def _is_unicode(data: Any) -> bool:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def negotiate(accept_language: str | None, supported: tuple[str, ...]) -> str | None:
    """The supported primary language ranked highest in an Accept-Language
    header, or None when the visitor names none of them."""
    best, best_quality = None, 0.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value)
            except ValueError:
                continue
        primary = tag.split("-")[0].strip().lower()
        if primary in supported and quality > best_quality:
            best, best_quality = primary, quality
    return best


def page_number(request: Request) -> int:
    """``?page=N`` as a positive number; anything else is the first page."""
    value = request.query_params.get("page", "1")
    return int(value) if value.isdigit() and 0 < len(value) < 7 and int(value) > 0 else 1


def period_param(request: Request, current: str, name: str = "period") -> str:
    """A billing month (``YYYY-MM``) from the query, ``current`` when absent,
    within the months data can fall in: from 2000-01 to the end of the year
    after ``current``. Beyond those, day arithmetic leaves the calendar (year
    0 or 10000) and would end in a 500; a readable 400 says what to choose."""
    value = request.query_params.get(name, current)
    if not PERIOD.fullmatch(value):
        raise Problem(400, "invalid_period", "The period must look like 2026-05.")
    # Both ends are YYYY-MM strings, so text comparison orders them as months.
    last = f"{int(current[:4]) + 1:04d}-12"
    if not FIRST_PERIOD <= value <= last:
        raise Problem(
            400,
            "invalid_period",
            f"There is no data for {value}. Choose a month from {FIRST_PERIOD} to {last}.",
        )
    return value


@cache
def asset_url(name: str) -> str:
    """A static file's address with a hash of its content, so browsers fetch
    a changed file anew however long they cache the old one."""
    path = STATIC_DIR / name
    body = path.read_bytes() if path.is_file() else b""
    return f"/static/{name}?v={hashlib.sha256(body).hexdigest()[:10]}"


def remember_answer(request: Request, response: Response, token: str, seconds: int) -> None:
    """Keep the display token a survey page was answered with in the browser
    for ``seconds``, for that survey's pages alone (the cookie's path), so
    that the browser's next score changes that answer."""
    response.set_cookie(
        ANSWERED_COOKIE,
        token,
        max_age=seconds,
        path=request.url.path.removesuffix("/"),
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",
    )
