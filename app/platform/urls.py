"""Every address the service hands out, built in one place: link surveys,
the embed snippet, admin pages. Public addresses start from PUBLIC_URL,
never from a request's Host header."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlencode, urlsplit, urlunsplit

from app.platform.signing import Signer

ADMIN = "/admin"


def admin(path: str = "", **query: str | int) -> str:
    """An admin page's path: ``admin("surveys/3/results", period="2026-05")``."""
    address = f"{ADMIN}/{path.lstrip('/')}" if path else f"{ADMIN}/"
    return f"{address}?{urlencode(query)}" if query else address


def page_address(url: str) -> str:
    """A visitor's page as it is stored: scheme, host, port and path only.
    The query, the fragment and any user name are cut: they may name the
    visitor (``?email=...``) or carry a session. "" for no address at all."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def link_path(link_key: str) -> str:
    return f"/s/{link_key}"


def review_path(review_key: str) -> str:
    return f"/r/{review_key}"


class Script(Protocol):
    """The built widget's content hash (in its immutable name) and SRI value."""

    @property
    def digest(self) -> str: ...

    @property
    def integrity(self) -> str: ...


def snippet(public_url: str, embed_key: str, script: Script | None = None) -> str:
    """The tag an owner pastes into their pages; with ``script``, the
    immutable content-hashed file with its integrity value."""
    if script is not None:
        return (
            f'<script src="{public_url}/widget.{script.digest}.js" data-survey="{embed_key}" '
            f'integrity="{script.integrity}" crossorigin="anonymous" async></script>'
        )
    return f'<script src="{public_url}/widget.js" data-survey="{embed_key}" async></script>'


@dataclass(frozen=True)
class Urls:
    public_url: str
    signer: Signer

    def link(self, public_id: str) -> str:
        return f"{self.public_url}{link_path(self.signer.link_key(public_id))}"

    def embed_key(self, public_id: str) -> str:
        return self.signer.embed_key(public_id)

    def snippet(self, public_id: str, script: Script | None = None) -> str:
        return snippet(self.public_url, self.embed_key(public_id), script)

    def test_link(self, public_id: str) -> str:
        return f"{self.public_url}{link_path(self.signer.test_link_key(public_id))}"

    def invitation(self, invitation_id: int, score: int | None = None) -> str:
        """An invitation's survey page; with ``score``, the one that link preselects."""
        address = f"{self.public_url}{link_path(self.signer.invitation_key(invitation_id))}"
        return f"{address}?score={score}" if score is not None else address

    def review(self, public_id: str, *, test: bool = False) -> str:
        """The review link offered after an answer: a redirect that counts."""
        return f"{self.public_url}{review_path(self.signer.review_key(public_id, test=test))}"

    def unsubscribe(self, invitation_id: int) -> str:
        return f"{self.public_url}/u/{self.signer.invitation_key(invitation_id)}"

    def message_id(self, invitation_id: int) -> str:
        """The same ``Message-ID`` for every attempt to send one invitation, so
        receivers can drop a repeat after a crash between send and mark."""
        host = urlsplit(self.public_url).hostname or "localhost"
        return (
            f"<invitation-{invitation_id}.{self.signer.invitation_key(invitation_id)[-10:]}@{host}>"
        )

    def admin_page(self, path: str = "", **query: str | int) -> str:
        """An admin page's full address, for messages that link to it."""
        return f"{self.public_url}{admin(path, **query)}"

    def alert_message_id(self, account_id: int, period: str, level: int, admin_id: int) -> str:
        """One ``Message-ID`` per budget alert and admin: a repeat is dropped."""
        host = urlsplit(self.public_url).hostname or "localhost"
        return f"<budget-{account_id}-{period}-{level}-{admin_id}@{host}>"

    def inbox_item(self, response_id: int) -> str:
        """An inbox item's admin page, for the detractor alert."""
        return self.admin_page(f"inbox/{response_id}")

    def inbox_message_id(self, mail_id: int) -> str:
        """One ``Message-ID`` per queued reply or alert, the same on every attempt."""
        host = urlsplit(self.public_url).hostname or "localhost"
        return f"<inbox-{mail_id}@{host}>"

    def webhook_disabled_message_id(self, endpoint_id: int, stamp: int, admin_id: int) -> str:
        """One ``Message-ID`` per disabling of an endpoint and admin."""
        host = urlsplit(self.public_url).hostname or "localhost"
        return f"<webhook-{endpoint_id}-{stamp}-{admin_id}@{host}>"

    def test_snippet(self, public_id: str) -> str:
        """Always the plain script, so a test runs the widget being served now."""
        return snippet(self.public_url, self.signer.test_embed_key(public_id))
