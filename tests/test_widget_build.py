"""The built widget: within its size budget, not stale against its source, and
served with the headers a cross-origin embed needs."""

from __future__ import annotations

import base64
import gzip
import hashlib
import shutil
import subprocess
from pathlib import Path

from sqlalchemy import Engine
from starlette.testclient import TestClient

from tests.conftest import require, seed

ROOT = Path(__file__).resolve().parents[1]
BUILT = ROOT / "static" / "widget.js"
WIDGET = ROOT / "widget"
BUDGET = 4096  # bytes gzip -9, the whole widget


def test_widget_fits_the_size_budget() -> None:
    size = len(gzip.compress(BUILT.read_bytes(), compresslevel=9))
    assert size <= BUDGET, f"static/widget.js is {size} bytes gzip -9, over {BUDGET}"


def test_widget_uses_nothing_a_strict_page_forbids() -> None:
    source = BUILT.read_text()
    for forbidden in ("eval(", "new Function", "innerHTML", "document.cookie", ".style."):
        assert forbidden not in source, forbidden
    assert source.startswith("(()=>{")  # one closure: nothing leaks into the page


def test_committed_widget_matches_its_source(tmp_path: Path) -> None:
    node = shutil.which("node")
    require(node is not None, "node is not installed")
    require((WIDGET / "node_modules" / "esbuild").is_dir(), "run `make widget-deps` first")
    fresh = tmp_path / "widget.js"
    run = subprocess.run(
        [str(node), "build.mjs", "--outfile", str(fresh)],
        cwd=WIDGET,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "bytes gzip -9" in run.stdout  # the size report
    for suffix in ("", ".gz", ".br"):
        built = BUILT.with_name(BUILT.name + suffix)
        assert fresh.with_name(fresh.name + suffix).read_bytes() == built.read_bytes(), (
            f"static/{built.name} is stale: run `make widget` and commit it"
        )


def test_widget_is_served_for_other_origins(client: TestClient) -> None:
    answer = client.get("/widget.js")
    assert answer.status_code == 200
    assert answer.content == BUILT.read_bytes()
    assert answer.headers["content-type"].startswith("text/javascript")
    assert answer.headers["access-control-allow-origin"] == "*"
    assert answer.headers["cross-origin-resource-policy"] == "cross-origin"
    assert answer.headers["x-content-type-options"] == "nosniff"
    cache = answer.headers["cache-control"]
    assert "max-age=" in cache and "immutable" not in cache
    assert int(cache.split("max-age=")[1].split(",")[0]) <= 3600


def test_hashed_widget_is_immutable_and_matches_its_integrity(client: TestClient) -> None:
    script = client.app.state.widget  # type: ignore[attr-defined]
    answer = client.get(f"/widget.{script.digest}.js")
    assert answer.status_code == 200
    assert answer.content == BUILT.read_bytes()
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert answer.headers["access-control-allow-origin"] == "*"
    assert answer.headers["cross-origin-resource-policy"] == "cross-origin"
    assert answer.headers["x-content-type-options"] == "nosniff"
    sri = "sha384-" + base64.b64encode(hashlib.sha384(answer.content).digest()).decode()
    assert script.integrity == sri

    stale = client.get("/widget.000000000000.js")
    assert stale.status_code == 404


def _raw(client: TestClient, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    """The bytes on the wire, not decoded by the client."""
    with client.stream("GET", path, headers=headers) as answer:
        return answer.status_code, dict(answer.headers), b"".join(answer.iter_raw())


def test_the_widget_goes_compressed_to_browsers_that_accept_it(client: TestClient) -> None:
    plain = BUILT.read_bytes()
    status, headers, wire = _raw(client, "/widget.js", **{"Accept-Encoding": "gzip, deflate, br"})
    assert (status, headers["content-encoding"]) == (200, "br")
    assert wire == BUILT.with_name("widget.js.br").read_bytes()
    assert len(wire) < len(plain) // 2  # bytes on the wire (brotli), 3,574 against 8,332 plain
    assert headers["vary"] == "Accept-Encoding"

    status, headers, wire = _raw(client, "/widget.js", **{"Accept-Encoding": "gzip"})
    assert headers["content-encoding"] == "gzip" and gzip.decompress(wire) == plain
    assert len(wire) <= BUDGET

    # br refused by quality 0, and no encoding at all: the plain file.
    for accept in ("br;q=0, identity", "identity"):
        status, headers, wire = _raw(client, "/widget.js", **{"Accept-Encoding": accept})
        assert "content-encoding" not in headers and wire == plain
    assert headers["access-control-allow-origin"] == "*"


def test_a_revalidation_costs_a_304_per_representation(client: TestClient) -> None:
    script = client.app.state.widget  # type: ignore[attr-defined]
    for path in ("/widget.js", f"/widget.{script.digest}.js"):
        tags = set()
        for accept in ("br", "gzip", "identity"):
            first = client.get(path, headers={"Accept-Encoding": accept})
            etag = first.headers["etag"]
            assert etag.startswith(f'"{script.digest}') and etag.endswith('"')
            tags.add(etag)
            again = client.get(
                path, headers={"Accept-Encoding": accept, "If-None-Match": f'W/{etag}, "x"'}
            )
            assert again.status_code == 304 and again.content == b""
            assert again.headers["etag"] == etag
            assert again.headers["cache-control"] == first.headers["cache-control"]
            assert again.headers["vary"] == "Accept-Encoding"
        assert len(tags) == 3  # each representation has its own strong tag
        other = client.get(path, headers={"If-None-Match": '"0000"'})
        assert other.status_code == 200 and other.content == BUILT.read_bytes()


def test_admin_pages_and_stylesheets_are_compressed_but_not_the_widget_api(
    client: TestClient, engine: Engine
) -> None:
    gz = {"Accept-Encoding": "gzip"}
    status, headers, wire = _raw(client, "/admin/login", **gz)
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert b"<form" in gzip.decompress(wire)
    status, headers, wire = _raw(client, "/static/admin.css", **gz)
    assert headers["content-encoding"] == "gzip"
    assert gzip.decompress(wire) == (ROOT / "static" / "admin.css").read_bytes()
    # The config is a few hundred bytes on the hot path: sent as it is.
    shop = seed(engine, texts={"en": {"question": "How likely are you? " * 30}})
    status, headers, wire = _raw(client, f"/api/v1/widget/{shop.embed_key}", **gz)
    assert status == 200 and len(wire) > 500 and "content-encoding" not in headers
