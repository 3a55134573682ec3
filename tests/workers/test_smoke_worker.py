"""A committed transition's emails reach the SMTP server through a real worker."""

from __future__ import annotations

import time

from sqlalchemy import select

from ews_cases.models import OutboxMessage
from workflows import State


def test_submit_emails_arrive_via_the_real_worker(worker_app, start_worker, smtp_sink, database, factory):
    worker = start_worker()
    worker.wait_ready()
    cohort = factory.cohort()
    case = factory.case(cohort, state=State.SUBMITTED)
    factory.session.commit()  # after commit: the dispatcher wakes the worker

    messages = smtp_sink.wait_for(3, timeout=30)
    assert sorted(m["To"] for m in messages) == sorted(
        ["kontakt@example.org", "person1@example.org", "person2@example.org"]
    )
    assert all(case.reference in m["Subject"] for m in messages)
    # The batch commits after the last message is sent: wait for the recorded outcome.
    deadline = time.monotonic() + 30
    while True:
        with database.session() as s:
            statuses = set(s.scalars(select(OutboxMessage.status).where(OutboxMessage.case_id == case.id)))
        if statuses == {"sent"} or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert statuses == {"sent"}
