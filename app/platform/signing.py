"""Signed values handed to the public: embed keys, link keys, invitation keys,
display tokens.

Each purpose has its own salt, so a value signed for one purpose never verifies
as another. ``SECRET_KEYS`` rotate: the first key signs, every key verifies.
The owner's test keys have salts of their own: a visitor who knows a survey's
key cannot make its test key, whose answers skip the budget.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from itsdangerous import (
    BadSignature,
    SignatureExpired,
    TimestampSigner,
    URLSafeSerializer,
    URLSafeTimedSerializer,
)
from itsdangerous.encoding import base64_encode, int_to_bytes
from itsdangerous.serializer import Serializer

EMBED = "embed"
LINK = "link"
TEST_EMBED = "embed-test"
TEST_LINK = "link-test"
DISPLAY = "display"
INVITATION = "invitation"
REVIEW = "review"
# The survey editor's live preview: a key carrying the unsaved form's config,
# and the display tokens it hands out. Own salts, so neither ever reads as a
# survey's key or as a display token that counts.
PREVIEW = "preview"
PREVIEW_DISPLAY = "display-preview"
PREVIEW_MAX_AGE = 6 * 3600

CHANNELS = ("widget", "link", "email")
EMBED_MEMO = 10_000


class InvalidToken(Exception):
    """Forged, tampered, malformed or signed for another purpose."""


class ExpiredToken(Exception):
    """Genuine but older than DISPLAY_TOKEN_MAX_AGE."""


class _DisplaySerializer(URLSafeTimedSerializer):
    """Display tokens are signed on every widget view: keep one signer instead
    of building one per token, and skip the zlib attempt, which a payload this
    short never wins. Tokens read the same either way.

    ``sign`` writes the very bytes itsdangerous' timed signer would, but with
    the key derived once and its HMAC state kept, so a token costs one
    HMAC-SHA1 over its own bytes and nothing more."""

    def __init__(self, keys: list[str], salt: str) -> None:
        super().__init__(keys, salt=salt)
        signer = super().make_signer(salt)
        assert isinstance(signer, TimestampSigner)  # a timed serializer's signer
        self._signer = signer
        # itsdangerous signs with the last key of the list.
        derived = self._signer.derive_key(self._signer.secret_keys[-1])
        self._mac = hmac.new(derived, digestmod=hashlib.sha1)

    def sign(self, payload: str) -> str:
        """The token of a payload already in compact JSON."""
        value = (
            base64_encode(payload.encode())
            + b"."
            + base64_encode(int_to_bytes(self._signer.get_timestamp()))
        )
        mac = self._mac.copy()
        mac.update(value)
        return (value + b"." + base64_encode(mac.digest())).decode("ascii")

    def make_signer(self, salt: str | bytes | None = None) -> Any:
        if salt is None or salt == self.salt:
            return self._signer
        return super().make_signer(salt)

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(Serializer.dump_payload(self, obj))


@dataclass(frozen=True)
class SurveyKey:
    """What an embed or link key names: a survey, and whether it is its test key."""

    public_id: str
    test: bool = False


@dataclass(frozen=True)
class Display:
    survey_id: int
    nonce: str
    channel: str
    test: bool = False


class Signer:
    def __init__(self, keys: Sequence[str], display_max_age: int) -> None:
        if not keys:
            raise ValueError("at least one secret key is needed")
        # itsdangerous signs with the last key of the list and verifies with all.
        ordered = list(reversed(keys))
        self._embed = URLSafeSerializer(ordered, salt=EMBED)
        self._link = URLSafeSerializer(ordered, salt=LINK)
        self._test_embed = URLSafeSerializer(ordered, salt=TEST_EMBED)
        self._test_link = URLSafeSerializer(ordered, salt=TEST_LINK)
        self._display = _DisplaySerializer(ordered, salt=DISPLAY)
        self._invitation = URLSafeSerializer(ordered, salt=INVITATION)
        self._review = URLSafeSerializer(ordered, salt=REVIEW)
        self._preview = URLSafeTimedSerializer(ordered, salt=PREVIEW)
        self._preview_display = URLSafeTimedSerializer(ordered, salt=PREVIEW_DISPLAY)
        self.display_max_age = display_max_age
        # The same few embed keys arrive on every page view: a key verified once
        # stays valid for the life of these secret keys.
        self._embeds: dict[str, SurveyKey] = {}

    def embed_key(self, public_id: str) -> str:
        return str(self._embed.dumps(public_id))

    def link_key(self, public_id: str) -> str:
        return str(self._link.dumps(public_id))

    def test_embed_key(self, public_id: str) -> str:
        return str(self._test_embed.dumps(public_id))

    def test_link_key(self, public_id: str) -> str:
        return str(self._test_link.dumps(public_id))

    def survey_from_embed_key(self, key: str) -> str:
        """The survey of a visitor's embed key; a test key is refused here."""
        found = self.read_embed_key(key)
        if found.test:
            raise InvalidToken
        return found.public_id

    def read_embed_key(self, key: str) -> SurveyKey:
        """The survey of an embed key or of its test key."""
        found = self._embeds.get(key)
        if found is None:
            found = _survey_key(self._embed, self._test_embed, key)  # raises for a forged key
            if len(self._embeds) >= EMBED_MEMO:
                self._embeds.clear()
            self._embeds[key] = found
        return found

    def survey_from_link_key(self, key: str) -> str:
        return _public_id(self._link, key)

    def read_link_key(self, key: str) -> SurveyKey:
        """The survey of a link key or of its test key."""
        return _survey_key(self._link, self._test_link, key)

    def invitation_key(self, invitation_id: int) -> str:
        """The key of one invitation's survey and unsubscribe links. It does
        not expire: a recipient may answer or unsubscribe weeks later."""
        return str(self._invitation.dumps(invitation_id))

    def read_invitation_key(self, key: str) -> int:
        try:
            value = self._invitation.loads(key)
        except BadSignature as exc:
            raise InvalidToken from exc
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidToken
        return value

    def review_key(self, public_id: str, *, test: bool = False) -> str:
        """The key of a survey's counting review link. It names the survey
        only (and whether an owner's test showed it), nothing about who."""
        payload: list[str | int] = [public_id, 1] if test else [public_id]
        return str(self._review.dumps(payload))

    def read_review_key(self, key: str) -> SurveyKey:
        try:
            value = self._review.loads(key)
        except BadSignature as exc:
            raise InvalidToken from exc
        match value:
            case [str(public_id)]:
                return SurveyKey(public_id)
            case [str(public_id), 1]:
                return SurveyKey(public_id, test=True)
        raise InvalidToken

    def preview_key(self, payload: dict[str, Any]) -> str:
        """A key for ``/api/v1/widget/``: the preview's whole config, signed
        (and compressed when that is shorter), valid for a few hours."""
        return str(self._preview.dumps(payload))

    def read_preview_key(self, key: str) -> dict[str, Any]:
        return _timed_object(self._preview, key, PREVIEW_MAX_AGE)

    def preview_token(self, payload: dict[str, Any]) -> str:
        """A preview's display token: what its answer is told, never counted."""
        return str(self._preview_display.dumps(payload))

    def read_preview_token(self, token: str) -> dict[str, Any]:
        return _timed_object(self._preview_display, token, self.display_max_age)

    def display_token(self, survey_id: int, channel: str, *, test: bool = False) -> str:
        # The JSON json.dumps would write for [id, nonce, channel(, 1)]: a
        # url-safe nonce needs no escaping. A test flag is inside the
        # signature, so a visitor's token can never become a test one.
        nonce = secrets.token_urlsafe(16)
        flag = ",1" if test else ""
        return self._display.sign(f'[{int(survey_id)},"{nonce}",{CHANNELS.index(channel)}{flag}]')

    def read_display_token(self, token: str) -> Display:
        try:
            payload = self._display.loads(token, max_age=self.display_max_age)
        except SignatureExpired as exc:
            raise ExpiredToken from exc
        except BadSignature as exc:
            raise InvalidToken from exc
        match payload:
            case [int(survey_id), str(nonce), int(channel)] if 0 <= channel < len(CHANNELS):
                return Display(survey_id, nonce, CHANNELS[channel])
            case [int(survey_id), str(nonce), int(channel), 1] if 0 <= channel < len(CHANNELS):
                return Display(survey_id, nonce, CHANNELS[channel], test=True)
        raise InvalidToken


def _timed_object(serializer: URLSafeTimedSerializer, value: str, max_age: int) -> dict[str, Any]:
    try:
        found = serializer.loads(value, max_age=max_age)
    except SignatureExpired as exc:
        raise ExpiredToken from exc
    except BadSignature as exc:
        raise InvalidToken from exc
    if not isinstance(found, dict):
        raise InvalidToken
    return found


def _survey_key(
    serializer: URLSafeSerializer, test_serializer: URLSafeSerializer, key: str
) -> SurveyKey:
    try:
        return SurveyKey(_public_id(serializer, key))
    except InvalidToken:
        return SurveyKey(_public_id(test_serializer, key), test=True)


def _public_id(serializer: URLSafeSerializer, key: str) -> str:
    try:
        value = serializer.loads(key)
    except BadSignature as exc:
        raise InvalidToken from exc
    if not isinstance(value, str):
        raise InvalidToken
    return value
