"""Outbox delivery through real workers and a real SMTP server: row locks, stable Message-IDs, retries,
permanent failures shown to coordinators, and the audit trail of case emails."""

from __future__ import annotations

import random
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from ews_cases.audit import chain
from ews_cases.audit.queries import resolved_data
from ews_cases.mail.outbox import Email, enqueue_emails
from ews_cases.models import AuditEvent, OutboxMessage
from ews_cases.services.users import issue_token
from testkit.factories import FINNENTROP, complete_content
from testkit.processes import ROOT, settings_env
from workers.tasks import deliver_outbox
from workflows import Actor, State


def wait_until(condition: Callable[[], bool], timeout: float, every: float = 0.2, tick=None) -> None:
    """Poll `condition`; `tick` (if given) runs between polls, e.g. to stand in for beat."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"condition not met after {timeout}s"
        if tick is not None:
            tick()
        time.sleep(every)


def outbox_rows(database) -> list[OutboxMessage]:
    with database.sessionmaker() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def bulk_emails(case_ids: list[int], count: int, tag: str) -> list[Email]:
    """`count` case emails, spread over the cases in turn (so every batch touches every case's chain)."""
    return [
        Email(
            f"test:{tag}:{i}",
            "test",
            f"r{i}@example.org",
            f"Nachricht {i}",
            "Text.\n",
            case_ids[i % len(case_ids)],
        )
        for i in range(count)
    ]


def sent_per_worker(log: str) -> int:
    return sum(
        int(n) for n in re.findall(r"task workers\.tasks\.deliver_outbox SUCCESS .*'sent': (\d+)", log)
    )


@pytest.mark.slow
def test_two_workers_send_each_message_exactly_once(worker_app, start_worker, smtp_sink, database, factory):
    workers = [start_worker(), start_worker()]
    for worker in workers:
        worker.wait_ready()
    smtp_sink.decide = lambda _m: time.sleep(0.008)  # slow enough for the workers' batches to overlap
    cases = [factory.case(factory.cohort(), state=State.SUBMITTED) for _ in range(4)]  # 3 real emails each
    enqueue_emails(factory.session, bulk_emails([c.id for c in cases], 388, "two-workers"))
    factory.session.commit()
    for _ in range(6):  # with the one the commit sent, more tasks than the four pool processes
        deliver_outbox.delay()

    wait_until(lambda: all(r.status != "pending" for r in outbox_rows(database)), timeout=90)
    counts = Counter(m["Message-ID"] for m in smtp_sink.settle(quiet=1.0))
    rows = outbox_rows(database)
    assert len(rows) == 400
    assert {r.status for r in rows} == {"sent"}
    assert [mid for mid, n in counts.items() if n > 1] == []
    assert set(counts) == {r.message_id for r in rows}  # the stored Message-ID is the one sent
    share = [sent_per_worker(w.log()) for w in workers]
    print(f"\nsent per worker: {share}, messages at the SMTP server: {counts.total()}")
    assert sum(share) == 400
    if not database.is_sqlite:  # SQLite's single writer lets whoever holds the lock take every batch
        assert min(share) > 0, "both workers must have delivered a share"

    with database.sessionmaker() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "email.delivered")).all()
        assert sorted(e.data["message_id"] for e in events) == sorted(r.message_id for r in rows)
        assert {e.case_id for e in events} == {c.id for c in cases}
        result = chain.verify_database(s)
        assert result.ok, result.breaks


def test_temporary_refusals_are_retried_and_a_permanent_one_is_recorded(
    worker_app, start_worker, smtp_sink, worker_settings, database, factory, monkeypatch
):
    bounce = "kontakt-bounce@example.org"
    dice, refused_ids = random.Random(), []

    def decide(message) -> str | None:
        if message["To"] == bounce:
            return "550 5.1.1 no such user"
        if dice.random() < 1 / 3:
            refused_ids.append(message["Message-ID"])
            return "451 4.3.0 try again"
        return None

    smtp_sink.decide = decide
    # With the default 8 attempts a message refused a third of the time fails for good with chance 3^-8;
    # over 45 messages that is a test failing once in ~150 runs. 20 attempts keep "eventually" certain.
    monkeypatch.setenv("EWS_OUTBOX_MAX_ATTEMPTS", "20")  # for the worker: settings_env() passes it on
    start_worker(settings=worker_settings.model_copy(update={"outbox_max_attempts": 20})).wait_ready()
    good = factory.case(factory.cohort(), state=State.SUBMITTED)
    cohort = factory.cohort()
    content = complete_content(cohort.team_size, tag="-bounce")
    bounced = factory.case(cohort, content=content, state=State.SUBMITTED)
    enqueue_emails(factory.session, bulk_emails([good.id], 40, "refusals"))
    coordinator = issue_token(factory.session, Actor.system("tests"), factory.user("coordinator"))
    applicant = issue_token(factory.session, Actor.system("tests"), factory.user("applicant", FINNENTROP))
    factory.session.commit()

    # A retried message waits for the next delivery run; beat starts one every 15 s. Sending the task
    # every half second stands in for beat, so the retries happen at the backoff's pace.
    wait_until(
        lambda: all(r.status != "pending" for r in outbox_rows(database)),
        timeout=90,
        every=0.5,
        tick=deliver_outbox.delay,
    )
    rows = outbox_rows(database)
    sent = [r for r in rows if r.status == "sent"]
    (failed,) = [r for r in rows if r.status == "failed"]
    delivered = Counter(m["Message-ID"] for m in smtp_sink.settle(quiet=1.0))
    answers_451 = sum(r.startswith("451") for r in smtp_sink.refusals)
    print(
        f"\n451 answers: {answers_451}, messages retried: {len(set(refused_ids))}, "
        f"most attempts: {max(r.attempts for r in sent)}"
    )
    assert len(sent) == 45
    assert set(delivered) == {r.message_id for r in sent}
    assert max(delivered.values()) == 1
    assert refused_ids
    assert set(refused_ids) <= set(delivered)  # a resend is the same message
    assert (failed.recipient, failed.attempts, failed.case_id) == (bounce, 1, bounced.id)
    assert failed.last_error == "550 5.1.1 no such user"

    client = worker_app.test_client()
    page = client.get("/api/v1/outbox?status=failed", headers={"Authorization": f"Bearer {coordinator}"})
    assert page.status_code == 200
    assert [(i["recipient"], i["last_error"]) for i in page.get_json()["items"]] == [
        (bounce, "550 5.1.1 no such user")
    ]
    assert client.get("/api/v1/outbox", headers={"Authorization": f"Bearer {applicant}"}).status_code == 403
    listing = subprocess.run(
        [sys.executable, "-m", "ews_cases.cli", "outbox", "list", "--status", "failed"],
        cwd=ROOT,
        env=settings_env(worker_settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert listing.count("\n") == 1
    assert bounce in listing
    assert "550 5.1.1 no such user" in listing

    with database.sessionmaker() as s:
        actions = dict(
            s.execute(
                select(AuditEvent.action, func.count())
                .where(AuditEvent.action.like("email.%"))
                .group_by(AuditEvent.action)
            ).all()
        )
        (event,) = s.scalars(select(AuditEvent).where(AuditEvent.action == "email.failed")).all()
        assert actions == {"email.delivered": 45, "email.failed": 1}
        assert (event.case_id, resolved_data(s, event.data)["error"]) == (
            bounced.id,
            "550 5.1.1 no such user",
        )
        assert chain.verify_database(s).ok
