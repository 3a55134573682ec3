"""Queue email in the outbox, inside the transaction of the change that causes it (SPEC §5)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ews_cases.models import Case, OutboxMessage
from ews_cases.settings import current_settings


def message_domain() -> str:
    sender = current_settings().mail_sender
    address = sender.rsplit("<", 1)[-1].rstrip(">")
    return address.rsplit("@", 1)[-1] or "ews.invalid"


def enqueue_email(
    session: Session,
    *,
    dedup_key: str,
    kind: str,
    recipient: str,
    subject: str,
    body: str,
    case: Case | None = None,
    attachments: Sequence[dict[str, Any]] = (),
) -> OutboxMessage | None:
    """Add one message unless one with the same `dedup_key` exists; returns the new message or None.

    The `Message-ID` is fixed here, so a resend after a crash is recognisably the same message.
    """
    if session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedup_key == dedup_key)) is not None:
        return None
    message = OutboxMessage(
        dedup_key=dedup_key,
        message_id=f"<{uuid.uuid4().hex}@{message_domain()}>",
        case_id=case.id if case is not None else None,
        kind=kind,
        recipient=recipient,
        subject=subject,
        body=body,
        attachments=list(attachments),
    )
    session.add(message)
    return message
