"""The built widget: within its size budget, not stale against its source, and
served with the headers a cross-origin embed needs."""

from __future__ import annotations

import base64
import gzip
import hashlib
import shutil
import subprocess
from pathlib import Path

from starlette.testclient import TestClient

from tests.conftest import require

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
    assert fresh.read_bytes() == BUILT.read_bytes(), (
        "static/widget.js is stale: run `make widget` and commit it"
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
