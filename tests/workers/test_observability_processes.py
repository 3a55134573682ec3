"""Metrics and logs of the real processes: `ews web` (several gunicorn workers) and `ews worker` (a pool).

Counters of forked processes are added up (prometheus_client's multiprocess mode), so a scrape that reaches
any one gunicorn worker reports every request, and a worker's endpoint reports the task durations measured
in its pool processes. In production the logs are one JSON object per line with the request id.
"""

from __future__ import annotations

import json
import secrets
import time

import requests
from prometheus_client.parser import text_string_to_metric_families

from testkit.processes import WorkerProcess, free_port
from workflows import State


def sample_values(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


def json_entries(log: str) -> list[dict]:
    entries = []
    for line in log.splitlines():
        if line.startswith("{"):
            entries.append(json.loads(line))
    return entries


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"{what} not seen within {timeout}s")


def test_gunicorn_workers_count_together_and_log_json_with_request_ids(
    worker_settings, db, tmp_path, monkeypatch
):
    port = free_port()
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.setenv("EWS_HOST", "127.0.0.1")
    monkeypatch.setenv("EWS_PORT", str(port))
    scrape_token = secrets.token_urlsafe(24)
    monkeypatch.setenv("EWS_METRICS_TOKEN", scrape_token)  # production: /metrics only with the token
    settings = worker_settings.model_copy(
        update={"env": "production", "secret_key": secrets.token_urlsafe(40)}
    )
    web = WorkerProcess(settings, tmp_path / "web.log", ("web", "--workers", "2", "--threads", "2"))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: web.log().count("Booting worker") >= 2, 60, "two gunicorn workers")

        def health_ok() -> bool:
            try:
                return requests.get(f"{base}/api/v1/health", timeout=10).status_code == 200
            except requests.RequestException:
                return False

        wait_for(health_ok, 60, "the web service")
        ids = [f"probe-{n}" for n in range(30)]
        for rid in ids:
            # A new connection each time, so the requests spread over both workers.
            response = requests.get(
                f"{base}/api/v1/health", headers={"X-Request-ID": rid, "Connection": "close"}
            )
            assert response.headers["X-Request-ID"] == rid

        def health_total(text: str) -> float:
            return sum(
                v
                for labels, v in sample_values(text, "ews_http_requests_total")
                if labels["route"] == "/api/v1/health" and labels["status"] == "200"
            )

        # Whichever worker answers the scrape, it reports the requests both served (≥ 30 + the readiness probes).
        scrape = {"Connection": "close", "Authorization": f"Bearer {scrape_token}"}
        assert requests.get(f"{base}/metrics", headers={"Connection": "close"}).status_code == 401
        scrapes = [requests.get(f"{base}/metrics", headers=scrape).text for _ in range(6)]
        totals = {health_total(text) for text in scrapes}
        assert len(totals) == 1, totals
        total = totals.pop()

        time.sleep(0.5)  # log lines are flushed per line; give the last ones a moment
        entries = json_entries(web.log())
        access = [e for e in entries if e.get("logger") == "ews.access"]
        health = [e for e in access if e["route"] == "/api/v1/health" and e["status"] == 200]
        assert set(ids) <= {e["request_id"] for e in health}
        # The counter agrees with the access log of both workers: every answered health check, once.
        assert total == len(health)
        assert len({e["pid"] for e in access}) <= 2
        assert all(e["level"] in {"INFO", "WARNING", "ERROR"} for e in entries)
        assert any(e.get("logger", "").startswith("gunicorn") for e in entries)  # gunicorn speaks JSON too
    finally:
        web.stop()


def test_a_worker_reports_task_durations_from_its_pool_processes(
    worker_app, start_worker, smtp_sink, factory, monkeypatch
):
    port = free_port()
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.setenv("EWS_WORKER_METRICS_PORT", str(port))
    monkeypatch.setenv("EWS_LOG_FORMAT", "json")
    worker = start_worker()
    worker.wait_ready()

    case = factory.case(factory.cohort(), state=State.SUBMITTED)
    factory.session.commit()  # wakes the worker: deliver_outbox runs in a pool process
    smtp_sink.wait_for(3, timeout=60)

    def delivered_count() -> float:
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        return sum(
            v
            for labels, v in sample_values(text, "ews_task_duration_seconds_count")
            if labels["task"] == "workers.tasks.deliver_outbox" and labels["state"] == "SUCCESS"
        )

    assert wait_for(delivered_count, 30, "deliver_outbox in the worker's metrics") >= 1

    entries = json_entries(worker.log())
    finished = [e for e in entries if e.get("task") == "workers.tasks.deliver_outbox"]
    assert finished, worker.log()[-2000:]
    assert all(e["task_id"] and e["state"] == "SUCCESS" and e["duration_ms"] >= 0 for e in finished)
    assert case.reference
