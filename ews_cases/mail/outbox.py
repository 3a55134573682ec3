"""Queue email in the outbox, inside the transaction of the change that causes it (SPEC §5)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ews_cases.db.after_commit import after_commit
from ews_cases.models import OutboxMessage
from ews_cases.settings import current_settings


@dataclass(frozen=True, slots=True)
class Email:
    """One message to queue; `dedup_key` makes queueing it twice a no-op."""

    dedup_key: str
    kind: str
    recipient: str
    subject: str
    body: str
    case_id: int | None = None
    attachments: Sequence[dict[str, Any]] = field(default_factory=tuple)
    headers: dict[str, str] = field(default_factory=dict)


def message_domain() -> str:
    sender = current_settings().mail_sender
    address = sender.rsplit("<", 1)[-1].rstrip(">")
    return address.rsplit("@", 1)[-1] or "ews.invalid"


_OUTBOX = OutboxMessage.__table__
#: Built once per dialect: a plain-table INSERT (no ORM bulk machinery) that skips a known `dedup_key`.
_INSERT_NEW = {
    name: dialect.insert(_OUTBOX).on_conflict_do_nothing(index_elements=["dedup_key"]).returning(_OUTBOX.c.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def enqueue_emails(session: Session, emails: Iterable[Email]) -> list[int]:
    """Queue many messages in one statement per chunk; returns the ids of those actually added.

    The `Message-ID` is fixed here, so a resend after a crash is recognisably the same message.
    """
    domain = message_domain()
    rows = [
        {
            "dedup_key": e.dedup_key,
            "message_id": f"<{uuid.uuid4().hex}@{domain}>",
            "case_id": e.case_id,
            "kind": e.kind,
            "recipient": e.recipient,
            "subject": e.subject,
            "body": e.body,
            "attachments": list(e.attachments),
            "headers": dict(e.headers),
            "status": "pending",
            "attempts": 0,
        }
        for e in emails
    ]
    added: list[int] = []
    connection = session.connection()
    insert_new = _INSERT_NEW[connection.dialect.name]
    for start in range(0, len(rows), 1000):
        chunk = rows[start : start + 1000]
        # One row is one plain INSERT (a list of one would take the executemany path, at twice the CPU).
        added += connection.scalars(insert_new, chunk[0] if len(chunk) == 1 else chunk).all()
    if added:
        after_commit(session, "outbox")
    return added
