"""Signed values handed to the public: embed keys, link keys, display tokens.

Each purpose has its own salt, so a value signed for one purpose never verifies
as another. ``SECRET_KEYS`` rotate: the first key signs, every key verifies.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode
from itsdangerous.serializer import Serializer

EMBED = "embed"
LINK = "link"
DISPLAY = "display"

CHANNELS = ("widget", "link")
EMBED_MEMO = 10_000


class InvalidToken(Exception):
    """Forged, tampered, malformed or signed for another purpose."""


class ExpiredToken(Exception):
    """Genuine but older than DISPLAY_TOKEN_MAX_AGE."""


class _DisplaySerializer(URLSafeTimedSerializer):
    """Display tokens are signed on every widget view: keep one signer instead
    of building one per token, and skip the zlib attempt, which a payload this
    short never wins. Tokens read the same either way."""

    def __init__(self, keys: list[str], salt: str) -> None:
        super().__init__(keys, salt=salt)
        self._signer = super().make_signer(salt)

    def make_signer(self, salt: str | bytes | None = None) -> Any:
        if salt is None or salt == self.salt:
            return self._signer
        return super().make_signer(salt)

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(Serializer.dump_payload(self, obj))


@dataclass(frozen=True)
class Display:
    survey_id: int
    nonce: str
    channel: str


class Signer:
    def __init__(self, keys: Sequence[str], display_max_age: int) -> None:
        if not keys:
            raise ValueError("at least one secret key is needed")
        # itsdangerous signs with the last key of the list and verifies with all.
        ordered = list(reversed(keys))
        self._embed = URLSafeSerializer(ordered, salt=EMBED)
        self._link = URLSafeSerializer(ordered, salt=LINK)
        self._display = _DisplaySerializer(ordered, salt=DISPLAY)
        self.display_max_age = display_max_age
        # The same few embed keys arrive on every page view: a key verified once
        # stays valid for the life of these secret keys.
        self._embeds: dict[str, str] = {}

    def embed_key(self, public_id: str) -> str:
        return str(self._embed.dumps(public_id))

    def link_key(self, public_id: str) -> str:
        return str(self._link.dumps(public_id))

    def survey_from_embed_key(self, key: str) -> str:
        public_id = self._embeds.get(key)
        if public_id is None:
            public_id = _public_id(self._embed, key)  # raises for a forged key
            if len(self._embeds) >= EMBED_MEMO:
                self._embeds.clear()
            self._embeds[key] = public_id
        return public_id

    def survey_from_link_key(self, key: str) -> str:
        return _public_id(self._link, key)

    def display_token(self, survey_id: int, channel: str) -> str:
        nonce = secrets.token_urlsafe(16)
        return str(self._display.dumps([survey_id, nonce, CHANNELS.index(channel)]))

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
        raise InvalidToken


def _public_id(serializer: URLSafeSerializer, key: str) -> str:
    try:
        value = serializer.loads(key)
    except BadSignature as exc:
        raise InvalidToken from exc
    if not isinstance(value, str):
        raise InvalidToken
    return value
