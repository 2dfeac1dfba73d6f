"""The embeddable widget script, plain and content-hashed for SRI, sent
brotli- or gzip-compressed to browsers that accept it (the build writes both
files beside the bundle), with a strong ETag so a revalidation costs a 304."""

from __future__ import annotations

import base64
import gzip
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.web.problem import Problem

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"

_COMMON = {
    "Access-Control-Allow-Origin": "*",
    "Cross-Origin-Resource-Policy": "cross-origin",
    "X-Content-Type-Options": "nosniff",
}


# Content codings the build writes beside the bundle, in order of preference,
# with the suffix of their file and of their ETag.
CODINGS = (("br", ".br"), ("gzip", ".gz"))


@dataclass(frozen=True)
class Script:
    body: bytes
    digest: str  # short content hash used in the immutable file name
    integrity: str  # the SRI attribute value
    encoded: Mapping[str, bytes] = field(default_factory=dict)  # coding -> body

    @classmethod
    def load(cls, path: Path) -> Script | None:
        if not path.is_file():
            return None
        body = path.read_bytes()
        sha = hashlib.sha384(body).digest()
        encoded = {}
        for coding, suffix in CODINGS:
            packed = path.with_name(path.name + suffix)
            if packed.is_file():
                encoded[coding] = packed.read_bytes()
        # A gzip file left over from an older bundle would serve the wrong
        # script: checked here (brotli has no decoder in the standard library;
        # the build test keeps that file in step).
        if "gzip" in encoded and gzip.decompress(encoded["gzip"]) != body:
            encoded = {}
        return cls(
            body,
            hashlib.sha256(body).hexdigest()[:12],
            "sha384-" + base64.b64encode(sha).decode(),
            encoded,
        )

    def etag(self, coding: str | None) -> str:
        suffix = dict(CODINGS).get(coding or "", "")
        return f'"{self.digest}{suffix}"'


def accepted_coding(header: str, offered: Iterable[str]) -> str | None:
    """The first of ``offered`` that an Accept-Encoding header accepts (q > 0)."""
    weights: dict[str, float] = {}
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        quality = 1.0
        key, _, value = params.strip().partition("=")
        if key.strip() == "q":
            try:
                quality = float(value)
            except ValueError:
                quality = 0.0
        if name:
            weights[name.strip().lower()] = quality
    for coding in offered:
        if weights.get(coding, weights.get("*", 0.0)) > 0:
            return coding
    return None


def _matches(if_none_match: str, etag: str) -> bool:
    """If-None-Match compares weakly: a W/ prefix does not matter."""
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def widget_script(static_dir: Path = STATIC_DIR) -> Script | None:
    return Script.load(static_dir / "widget.js")


def routes(script: Script | None) -> list[BaseRoute]:
    def serve(request: Request) -> Response:
        if script is None:
            raise Problem(
                404, "widget_not_built", "static/widget.js is missing; build it with `make widget`."
            )
        wanted = request.path_params.get("digest")
        if wanted is None:
            cache = "public, max-age=300"
        elif wanted == script.digest:
            cache = "public, max-age=31536000, immutable"
        else:
            raise Problem(404, "not_found", "No widget has this content hash.")
        coding = accepted_coding(request.headers.get("accept-encoding", ""), script.encoded)
        headers = {
            **_COMMON,
            "Cache-Control": cache,
            "ETag": script.etag(coding),
            "Vary": "Accept-Encoding",
        }
        if _matches(request.headers.get("if-none-match", ""), headers["ETag"]):
            return Response(status_code=304, headers=headers)
        if coding is not None:
            headers["Content-Encoding"] = coding
        return Response(
            script.encoded[coding] if coding else script.body,
            media_type="text/javascript; charset=utf-8",
            headers=headers,
        )

    return [
        Route("/widget.js", serve, methods=["GET", "HEAD"]),
        Route("/widget.{digest:str}.js", serve, methods=["GET", "HEAD"]),
    ]
