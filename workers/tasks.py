"""Celery tasks: thin wrappers that open a transaction and call one service. All are idempotent."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from celery import shared_task
from flask import current_app
from sqlalchemy import select

from ews_cases.db.engine import Database
from ews_cases.mail.delivery import SmtpSender, deliver_batch
from ews_cases.models import Case, Cohort, utcnow
from ews_cases.services.certificates import issue_missing_certificates
from ews_cases.services.reminders import run_reminder_scan
from ews_cases.services.session_reminders import run_session_reminders
from ews_cases.services.transitions import apply_transition
from workflows import BERLIN, Actor, State, TransitionRefused

log = logging.getLogger("workers")
#: A delivery run stops taking new batches after this long, so one task never hogs a worker.
DELIVERY_BUDGET_SECONDS = 30.0


def _db() -> Database:
    return current_app.extensions["ews"].db


def _parse_now(now: str | None) -> datetime | None:
    return datetime.fromisoformat(now) if now else None


@shared_task(name="workers.tasks.deliver_outbox")
def deliver_outbox() -> dict[str, int]:
    """Send due outbox messages in row-locked batches until none is due (or the time budget is spent)."""
    settings = current_app.extensions["ews"].settings
    totals = {"sent": 0, "retried": 0, "failed": 0}
    sender = SmtpSender(settings)
    started = time.monotonic()
    try:
        while time.monotonic() - started < DELIVERY_BUDGET_SECONDS:
            with _db().transaction() as session:
                report = deliver_batch(session, settings, sender)
            for key in totals:
                totals[key] += getattr(report, key)
            if report.handled == 0:
                break
    finally:
        sender.close()
    return totals


@shared_task(name="workers.tasks.scan_reminders")
def scan_reminders(now: str | None = None) -> dict[str, Any]:
    """Queue the deadline reminders due now; the database makes each one happen at most once."""
    with _db().transaction() as session:
        report = run_reminder_scan(session, _parse_now(now))
    return report.as_dict()


@shared_task(name="workers.tasks.send_session_reminders")
def send_session_reminders(now: str | None = None) -> int:
    with _db().transaction() as session:
        return run_session_reminders(session, _parse_now(now))


@shared_task(name="workers.tasks.start_cohorts")
def start_cohorts(now: str | None = None) -> int:
    """Move admitted cases of cohorts whose start date has come to `attending` (one transaction each)."""
    moment = _parse_now(now) or utcnow()
    today = moment.astimezone(BERLIN).date()
    with _db().transaction() as session:
        ids = session.scalars(
            select(Case.id)
            .join(Cohort, Cohort.id == Case.cohort_id)
            .where(Case.state == State.ADMITTED.value, Cohort.starts_on <= today)
        ).all()
    started = 0
    for case_id in ids:
        try:
            with _db().transaction() as session:
                case = session.get(Case, case_id)
                if case is not None and case.state == State.ADMITTED.value:
                    apply_transition(
                        session, case, "start", Actor.system("start_cohorts"), case.version, now=moment
                    )
                    started += 1
        except TransitionRefused as exc:  # e.g. changed meanwhile; the next run looks again
            log.info("start of case %s refused: %s", case_id, exc)
    return started


@shared_task(name="workers.tasks.issue_certificates")
def issue_certificates(case_id: int) -> int:
    """Issue the missing certificates of one case and certify it; a rerun issues nothing twice."""
    with _db().transaction() as session:
        case = session.get(Case, case_id)
        if case is None or case.state != State.PROJECT_DONE.value:
            return 0
        return len(issue_missing_certificates(session, case, Actor.system("issue_certificates")))


@shared_task(name="workers.tasks.scan_certificates")
def scan_certificates() -> int:
    """Safety net for a lost signal: every case still in `project_done` gets its certificates."""
    with _db().transaction() as session:
        ids = session.scalars(select(Case.id).where(Case.state == State.PROJECT_DONE.value)).all()
    return sum(issue_certificates(case_id) for case_id in ids)
