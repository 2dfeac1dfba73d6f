"""Request ids on every answer and in problem documents; JSON log lines."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from app.platform.logs import JsonFormatter
from tests.conftest import seed


def test_every_answer_has_a_request_id_and_problems_quote_it(
    client: TestClient, engine: Engine
) -> None:
    shop = seed(engine)
    first = client.get(f"/api/v1/widget/{shop.embed_key}")
    second = client.get(f"/api/v1/widget/{shop.embed_key}")
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert all(len(rid) == 16 for rid in ids) and ids[0] != ids[1]

    refused = client.post("/api/v1/responses", json={"display_token": "forged", "score": 3})
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["request_id"] == refused.headers["x-request-id"]

    # A proxy's id is kept; text that is not an id is replaced.
    kept = client.get("/healthz", headers={"X-Request-ID": "edge-4f2a9c1b"})
    assert kept.headers["x-request-id"] == "edge-4f2a9c1b"
    forged = client.get("/healthz", headers={"X-Request-ID": 'x" injected=1'})
    assert forged.headers["x-request-id"] != 'x" injected=1'
    assert len(forged.headers["x-request-id"]) == 16


def test_the_json_formatter_writes_one_object_with_the_extras() -> None:
    record = logging.makeLogRecord(
        {"name": "nps_beacon.access", "levelname": "INFO", "msg": "request", "status": 201}
    )
    record.request_id = "abc123abc123"
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "request" and line["status"] == 201
    assert line["request_id"] == "abc123abc123" and line["level"] == "info"


@pytest.mark.server
def test_a_server_with_json_logs_writes_a_line_per_request_with_its_route(
    engine: Engine, live_server: Any, tmp_path: Path
) -> None:
    shop = seed(engine)
    base = live_server(LOG_FORMAT="json", LOG_LEVEL="info")
    config = httpx.get(f"{base}/api/v1/widget/{shop.embed_key}").json()
    answer = httpx.post(
        f"{base}/api/v1/responses", json={"display_token": config["display_token"], "score": 9}
    )
    assert answer.status_code == 201
    port = base.rsplit(":", 1)[1]
    # The access line is written once the answer has gone out, so the client
    # may read the log a moment before it is there.
    log = tmp_path / "logs" / f"server-{port}.log"
    deadline = time.monotonic() + 10
    while True:
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        requests = {line["route"]: line for line in lines if line["logger"] == "nps_beacon.access"}
        if "/api/v1/responses" in requests or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert "/api/v1/responses" in requests, log.read_text()
    posted = requests["/api/v1/responses"]
    assert posted["status"] == 201 and posted["method"] == "POST"
    assert posted["request_id"] == answer.headers["x-request-id"]
    assert posted["duration_ms"] >= 0
    # The route's template, never the key itself.
    assert "/api/v1/widget/{embed_key}" in requests
    assert all(shop.embed_key not in json.dumps(line) for line in lines)


def test_readyz_answers_for_the_database_whatever_the_host(
    client: TestClient, engine: Engine
) -> None:
    ready = client.get("/readyz", headers={"Host": "10.0.0.7:8000"})
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": "ok"}
    assert ready.headers["cache-control"] == "no-store"


def _samples(text: str, name: str) -> dict[str, float]:
    """A metric's samples by their label text, e.g. '{method="GET",...}'."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line[len(name) :].rsplit(" ", 1)
            found[labels] = found.get(labels, 0.0) + float(value)
    return found


@pytest.mark.server
def test_metrics_add_up_every_worker_and_name_routes_not_keys(
    engine: Engine, live_server: Any, tmp_path: Path
) -> None:
    shop = seed(engine)
    base = live_server(
        workers=2,
        METRICS="on",
        METRICS_DIR=str(tmp_path / "metrics"),
        RATE_LIMIT_ENABLED="true",
        RATE_LIMIT_WIDGET="7/minute",
    )
    with httpx.Client(base_url=base) as http:
        configs = [http.get(f"/api/v1/widget/{shop.embed_key}") for _ in range(9)]
        assert [r.status_code for r in configs] == [200] * 7 + [429] * 2
        token = configs[0].json()["display_token"]
        assert http.post("/api/v1/responses", json={"display_token": token, "score": 2}).is_success
        assert http.get("/no/such/page").status_code == 404
        # A request is counted once its answer has gone out: wait for the last.
        deadline = time.monotonic() + 10
        unmatched = '{method="GET",route="unmatched",status="4xx"}'
        while unmatched not in _samples(http.get("/metrics").text, "nps_beacon_requests_total"):
            assert time.monotonic() < deadline, "the 404 was never counted"
            time.sleep(0.05)
        # New connections: the scrapes land on either worker, the sums agree.
        scrapes = [httpx.get(f"{base}/metrics").text for _ in range(4)]

    for text in scrapes:
        requests = _samples(text, "nps_beacon_requests_total")
        widget = '{method="GET",route="/api/v1/widget/{embed_key}",status="2xx"}'
        assert requests[widget] == 7
        assert requests['{method="GET",route="/api/v1/widget/{embed_key}",status="4xx"}'] == 2
        assert requests['{method="POST",route="/api/v1/responses",status="2xx"}'] == 1
        assert requests['{method="GET",route="unmatched",status="4xx"}'] == 1
        submissions = _samples(text, "nps_beacon_submissions_total")
        assert submissions == {'{channel="widget",outcome="accepted"}': 1}
        limited = _samples(text, "nps_beacon_rate_limited_total")
        assert limited == {'{route="/api/v1/widget/{embed_key}"}': 2}
        assert "nps_beacon_request_duration_seconds_bucket" in text
        assert "nps_beacon_db_pool_in_use" in text
        assert shop.embed_key not in text and token not in text


def test_metrics_are_off_unless_enabled(client: TestClient) -> None:
    assert client.get("/metrics").status_code == 404


@pytest.mark.server
def test_redis_away_shows_in_the_metrics_and_the_log_while_answers_go_on(
    engine: Engine, live_server: Any, tmp_path: Path
) -> None:
    from tests.servers import free_port

    shop = seed(engine)
    closed = free_port()  # nothing listens there: Redis is away
    base = live_server(
        METRICS="on",
        METRICS_DIR=str(tmp_path / "metrics"),
        RATE_LIMIT_ENABLED="true",
        RATE_LIMIT_STORAGE_URL=f"redis://127.0.0.1:{closed}/0",
        LOG_LEVEL="warning",
    )
    answers = [httpx.get(f"{base}/api/v1/widget/{shop.embed_key}") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    text = httpx.get(f"{base}/metrics").text
    assert _samples_plain(text, "nps_beacon_rate_limits_in_memory") == 1
    port = base.rsplit(":", 1)[1]
    log = (tmp_path / "logs" / f"server-{port}.log").read_text()
    assert "falling back to in-memory storage" in log.lower() or "in-memory" in log.lower()


def _samples_plain(text: str, name: str) -> float:
    """A metric without labels."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} is not in the metrics")
