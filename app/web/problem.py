"""RFC 9457 problem documents: the one exception every handler raises for a
client's mistake, answered as problem+json."""

from __future__ import annotations

from typing import Any

PROBLEM_TYPE = "urn:nps-beacon:problem:"


class Problem(Exception):
    """Raise to answer with a problem document."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.headers = headers or {}
        self.extra = extra
