"""The beat schedule, in one place. Periodic scans, never long countdowns: a missed run is caught up."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery.schedules import crontab

from ews_cases.settings import Settings

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "deliver-outbox": {"task": "workers.tasks.deliver_outbox", "schedule": timedelta(seconds=15)},
    "scan-reminders": {"task": "workers.tasks.scan_reminders", "schedule": crontab(minute="*/5")},
    "session-reminders": {"task": "workers.tasks.send_session_reminders", "schedule": crontab(minute="*/30")},
    "start-cohorts": {"task": "workers.tasks.start_cohorts", "schedule": crontab(minute="*/30")},
    "expire-invitations": {"task": "workers.tasks.expire_invitations", "schedule": crontab(minute="*/30")},
    "apply-retention": {"task": "workers.tasks.apply_retention", "schedule": crontab(minute=17, hour=3)},
    "scan-certificates": {"task": "workers.tasks.scan_certificates", "schedule": timedelta(minutes=2)},
}


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """`BEAT_SCHEDULE` and the entries whose interval is a setting."""
    return {
        **BEAT_SCHEDULE,
        "audit-checkpoint": {
            "task": "workers.tasks.write_audit_checkpoint",
            "schedule": timedelta(minutes=settings.audit_checkpoint_minutes),
        },
    }
