"""Celery tasks: thin wrappers that open a transaction and call one service. All are idempotent."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from celery import shared_task
from flask import current_app

from ews_cases.db.engine import Database
from ews_cases.mail.delivery import SmtpSender, deliver_batch
from ews_cases.services import retention
from ews_cases.services.certificates import issue_case_certificates, issue_due_certificates
from ews_cases.services.checkpoints import write_checkpoint
from ews_cases.services.cohorts import start_due_cases
from ews_cases.services.invitations import expire_invitations as expire_due_invitations
from ews_cases.services.reminders import run_reminder_scan
from ews_cases.services.session_reminders import run_session_reminders
from workflows import Actor

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
    return start_due_cases(_db(), _parse_now(now))


@shared_task(name="workers.tasks.apply_retention")
def apply_retention(now: str | None = None) -> dict[str, int]:
    """Erase the personal data whose retention period has ended (services/retention.py)."""
    with _db().transaction() as session:
        return retention.apply_retention(session, _parse_now(now)).erased


@shared_task(name="workers.tasks.issue_certificates")
def issue_certificates(case_id: int) -> int:
    """Prepare the missing certificates of one case, and release and certify unless its ceremony is ahead;
    a rerun issues nothing twice."""
    with _db().transaction() as session:
        return issue_case_certificates(session, case_id, Actor.system("issue_certificates"))


@shared_task(name="workers.tasks.scan_certificates")
def scan_certificates(now: str | None = None) -> int:
    """Every case still in `project_done` gets its certificates prepared, released on the ceremony day."""
    return issue_due_certificates(_db(), Actor.system("issue_certificates"), _parse_now(now))


@shared_task(name="workers.tasks.expire_invitations")
def expire_invitations(now: str | None = None) -> int:
    """Mark invitations past their expiry as expired (each audited); a rerun finds none twice."""
    with _db().transaction() as session:
        return expire_due_invitations(session, _parse_now(now))


@shared_task(name="workers.tasks.write_audit_checkpoint")
def write_audit_checkpoint() -> int | None:
    """Sign a checkpoint of the audit log if it has grown, and mail it to subscribers; its tree size or None.
    Runs at once queue up on the log's lock; the second finds nothing new."""
    with _db().transaction() as session:
        written = write_checkpoint(session)
        return written.checkpoint.tree_size if written is not None else None
