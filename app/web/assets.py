"""The embeddable widget script, plain and content-hashed for SRI."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.web.errors import Problem

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"

_COMMON = {
    "Access-Control-Allow-Origin": "*",
    "Cross-Origin-Resource-Policy": "cross-origin",
    "X-Content-Type-Options": "nosniff",
}


@dataclass(frozen=True)
class Script:
    body: bytes
    digest: str  # short content hash used in the immutable file name
    integrity: str  # the SRI attribute value

    @classmethod
    def load(cls, path: Path) -> Script | None:
        if not path.is_file():
            return None
        body = path.read_bytes()
        sha = hashlib.sha384(body).digest()
        return cls(
            body, hashlib.sha256(body).hexdigest()[:12], "sha384-" + base64.b64encode(sha).decode()
        )


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
        return Response(
            script.body,
            media_type="text/javascript; charset=utf-8",
            headers={**_COMMON, "Cache-Control": cache},
        )

    return [
        Route("/widget.js", serve, methods=["GET", "HEAD"]),
        Route("/widget.{digest:str}.js", serve, methods=["GET", "HEAD"]),
    ]
