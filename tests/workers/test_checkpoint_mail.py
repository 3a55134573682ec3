"""Must-hold 6 of issue 18: a checkpoint e-mail reaches a subscribed auditor through the outbox exactly once per
checkpoint, with real workers taking the checkpoint task several times at once (as beat and a redelivery may)."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

from sqlalchemy import func, select

from ews_cases.audit import notes
from ews_cases.audit.signing import development_key_path
from ews_cases.models import AuditCheckpoint, OutboxMessage
from ews_cases.services.actors import actor_for
from ews_cases.services.checkpoints import set_checkpoint_mail
from testkit.factories import ATTENDORN, Factory
from tests.workers.test_certificates_worker import attachments
from tests.workers.test_reminders import body, subject, wait_for_results
from workers import tasks
from workers.schedule import BEAT_SCHEDULE, beat_schedule
from workflows import State

SUBJECT = "Neuer Prüfpunkt des Prüfprotokolls"


def wait_until_delivered(database, timeout: float = 60.0) -> None:
    """Until the workers delivered every queued letter: each delivery appends an event (`email.delivered`),
    which would grow the log between the checkpoint runs this test sends at once."""
    deadline = time.monotonic() + timeout
    pending = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending")
    while True:
        with database.sessionmaker() as s:
            if s.execute(pending).scalar_one() == 0:
                return
        assert time.monotonic() < deadline, "the outbox was not delivered"
        time.sleep(0.2)


def send_checkpoint_tasks() -> None:
    """The same task message twice (a lost acknowledgement) and two more runs besides."""
    task_id = str(uuid.uuid4())
    tasks.write_audit_checkpoint.apply_async(task_id=task_id)
    tasks.write_audit_checkpoint.apply_async(task_id=task_id)
    tasks.write_audit_checkpoint.delay()
    tasks.write_audit_checkpoint.delay()


def test_each_checkpoint_is_mailed_once_to_each_subscribed_auditor(
    worker_app, worker_settings, start_worker, smtp_sink, database, session, factory: Factory
):
    reader, bystander = factory.user("auditor"), factory.user("auditor")
    set_checkpoint_mail(session, actor_for(reader), reader, True)
    factory.case(state=State.SUBMITTED)
    session.commit()
    workers = [start_worker(), start_worker()]
    for worker in workers:
        worker.wait_ready()
    wait_until_delivered(database)

    send_checkpoint_tasks()
    sizes = wait_for_results(workers, "write_audit_checkpoint", 4)
    written = [size for size in sizes if size is not None]
    assert len(written) == 1, sizes  # one run signed, the others found the log unchanged
    first = smtp_sink.wait_for(1)

    with database.transaction() as s:  # a change made as the web app makes it, then the task again
        Factory(s).case(Factory(s).cohort(), ATTENDORN)
    wait_until_delivered(database)
    send_checkpoint_tasks()
    sizes = wait_for_results(workers, "write_audit_checkpoint", 8)
    assert len([size for size in sizes if size is not None]) == 2, sizes
    smtp_sink.wait_for(len(first) + 1)
    mails = [m for m in smtp_sink.settle(quiet=1.5) if subject(m).startswith(SUBJECT)]

    with database.sessionmaker() as s:
        stored = s.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size)).all()
    assert [c.tree_size for c in stored] == sorted(size for size in sizes if size is not None)
    assert sorted(subject(m) for m in mails) == sorted(f"{SUBJECT}: {c.tree_size} Einträge" for c in stored)
    assert {m["To"] for m in mails} == {reader.email}  # not to the auditor who did not subscribe
    assert bystander.email not in {m["To"] for m in smtp_sink.messages}

    key = notes.parse_signer_key(development_key_path(worker_settings).read_text()).verifier
    for checkpoint in stored:
        (mail,) = [m for m in mails if subject(m).endswith(f": {checkpoint.tree_size} Einträge")]
        assert checkpoint.note in body(mail).replace("\r\n", "\n")  # mail text travels with CRLF line ends
        attached = attachments(mail)[f"pruefpunkt-{checkpoint.tree_size}.txt"]
        assert attached == checkpoint.note.encode("utf-8")  # byte for byte
        assert notes.open_note(attached, [key]).verified_keys == (key,)


def test_beat_writes_a_checkpoint_every_configured_minutes(worker_app, settings):
    celery = worker_app.extensions["celery"]
    entry = celery.conf.beat_schedule["audit-checkpoint"]
    assert entry == {"task": "workers.tasks.write_audit_checkpoint", "schedule": timedelta(minutes=10)}
    assert entry["task"] in celery.tasks
    every_three = beat_schedule(settings.model_copy(update={"audit_checkpoint_minutes": 3}))
    assert every_three["audit-checkpoint"]["schedule"] == timedelta(minutes=3)
    assert set(every_three) - {"audit-checkpoint"} == set(BEAT_SCHEDULE)
