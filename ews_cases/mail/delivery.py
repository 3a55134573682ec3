"""Deliver pending outbox messages over SMTP: row-locked batches, retries with backoff, stable Message-IDs."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import logging
import random
import smtplib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import encoders, policy
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import Compat32
from email.utils import format_datetime, make_msgid, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ews_cases.audit import chain
from ews_cases.db.engine import show_stored
from ews_cases.mail.letters import letter_html
from ews_cases.models import Case, OutboxMessage, utcnow
from ews_cases.settings import Settings
from workflows import Actor

log = logging.getLogger(__name__)
DELIVERY_ACTOR = Actor.system("deliver_outbox")


class _WirePolicy(Compat32):
    """compat32 with CRLF line ends that writes plain ASCII headers itself, folded at spaces to 78
    characters, instead of building a `Header` for each (the folding machinery cost more than the rest of
    a message). Anything else — encoded words, other characters — takes compat32's own way."""

    def fold_binary(self, name: str, value: Any) -> bytes:
        if not (isinstance(value, str) and value.isascii() and value.isprintable()):
            return super().fold_binary(name, value)
        limit = self.max_line_length or 998
        lines, line = [], f"{name}:"
        for word in value.split(" "):
            if word and line != f"{name}:" and len(line) + 1 + len(word) > limit:
                lines.append(line)
                line = ""
            line = f"{line} {word}"
        lines.append(line)
        return self.linesep.join(lines).encode("ascii") + self.linesep.encode("ascii")


#: Messages are built with the email package's compat32 API: `EmailMessage` parses every header value
#: into objects and refolds them on output, which made building a message cost more than sending it.
_WIRE = _WirePolicy(linesep="\r\n")


@dataclass(slots=True)
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        return self.sent + self.retried + self.failed


class TemporaryFailure(Exception):
    """The server or the network said: try again later."""


class PermanentFailure(Exception):
    """The server refused the message for good (5xx)."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A rendered message with its envelope; `smtputf8` when an address needs it (RFC 6531)."""

    sender: str
    recipient: str
    data: bytes
    smtputf8: bool = False


def build_message(message: OutboxMessage, sender: str) -> Message:
    """The MIME message; its `Message-ID` is the one stored at queueing, so a resend is the same message.

    The letter as `text/plain` and, rendered from that same text, `text/html` (multipart/alternative);
    with attachments, multipart/mixed around it. Every message is sent by the system, not by a person:
    `Auto-Submitted: auto-generated` (RFC 3834) keeps out-of-office replies away.
    """
    message_id = message.message_id or make_msgid()
    # Boundaries derived from the Message-ID: a resend is byte for byte the same message. "=_" never
    # occurs in quoted-printable or base64 text, so no part can contain a boundary line.
    boundary = "=_" + hashlib.sha256(message_id.encode("utf-8")).hexdigest()[:32]
    letter: Message = MIMEMultipart("alternative", boundary=f"{boundary}.a")
    letter.attach(_text_part(message.body))
    letter.attach(_text_part(letter_html(message.subject, message.body), "html"))
    if message.attachments:
        del letter["MIME-Version"]
        mail: Message = MIMEMultipart("mixed", boundary=f"{boundary}.m")
        mail.attach(letter)
        for attachment in message.attachments:
            mail.attach(_attachment_part(attachment))
    else:
        mail = letter
    mail["From"] = _from_header(sender)
    mail["To"] = message.recipient if message.recipient.isascii() else _raw_utf8(message.recipient)
    mail["Subject"] = _header("Subject", message.subject)
    mail["Message-ID"] = message_id
    mail["Date"] = format_datetime(message.created_at)
    mail["Auto-Submitted"] = "auto-generated"
    for name, value in (message.headers or {}).items():
        mail[name] = _header(name, value)
    return mail


def render_message(message: OutboxMessage, sender: str) -> Outgoing:
    """The message as the bytes that go over the wire, with the envelope addresses."""
    envelope_sender = _envelope_sender(sender)
    return Outgoing(
        sender=envelope_sender,
        recipient=message.recipient,
        data=build_message(message, sender).as_bytes(policy=_WIRE),
        smtputf8=not (message.recipient.isascii() and envelope_sender.isascii()),
    )


def _text_part(body: str, subtype: str = "plain") -> MIMENonMultipart:
    """UTF-8 text as quoted-printable: German stays readable in the raw message, and it is 7-bit clean.
    (binascii encodes in C; the email package's own quoted-printable encoder is pure Python.)"""
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    del part["MIME-Version"]
    part["Content-Transfer-Encoding"] = "quoted-printable"
    part.set_payload(binascii.b2a_qp(body.encode("utf-8"), istext=True).decode("ascii"))
    return part


def _attachment_part(attachment: dict[str, Any]) -> MIMEBase:
    data = (
        Path(attachment["path"]).read_bytes()
        if "path" in attachment
        else base64.b64decode(attachment["content_b64"])
    )
    # "text/calendar; charset=utf-8; method=REQUEST": the parameters go into the part's Content-Type.
    content_type, *parameters = attachment.get("content_type", "application/octet-stream").split(";")
    maintype, _, subtype = content_type.strip().partition("/")
    params = dict(p.strip().partition("=")[::2] for p in parameters if "=" in p)
    part = MIMEBase(maintype, subtype or "octet-stream", **params)
    del part["MIME-Version"]
    part.set_payload(data)
    encoders.encode_base64(part)
    part.add_header("Content-Disposition", "attachment", filename=attachment["filename"])  # RFC 2231
    return part


def _header(name: str, value: str) -> str | Header:
    """One line (a line break would start a header of its own); non-ASCII as RFC 2047 encoded words."""
    value = " ".join(value.splitlines())
    return value if value.isascii() else Header(value, "utf-8", header_name=name)


@lru_cache(maxsize=8)
def _from_header(sender: str) -> str:
    """The sender as the modern email policy writes it (non-ASCII words of the name as RFC 2047 encoded
    words), unfolded so that it folds like the other headers; worked out once per sender."""
    wire = policy.SMTP.clone(cte_type="7bit")
    folded = wire.fold_binary("From", wire.header_store_parse("From", sender)[1])
    return folded.decode("ascii").split(":", 1)[1].replace("\r\n", "").strip()


@lru_cache(maxsize=8)
def _envelope_sender(sender: str) -> str:
    return parseaddr(sender)[1]


def _raw_utf8(address: str) -> str:
    """An internationalised address written as raw UTF-8 (sent with SMTPUTF8, RFC 6532)."""
    return address.encode("utf-8").decode("ascii", "surrogateescape")


class SmtpSender:
    """One SMTP connection reused for a batch; reconnects after a dropped connection."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds)
        if s.smtp_starttls:
            smtp.starttls()
        if s.smtp_user:
            smtp.login(s.smtp_user, s.smtp_password or "")
        return smtp

    def send(self, mail: Outgoing) -> None:
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            refused = self._smtp.sendmail(
                mail.sender, [mail.recipient], mail.data, mail_options=("SMTPUTF8",) if mail.smtputf8 else ()
            )
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise (PermanentFailure if 500 <= code < 600 else TemporaryFailure)(
                f"{code} {_text(text)}"
            ) from exc
        except smtplib.SMTPResponseException as exc:
            self.close()
            failure = PermanentFailure if 500 <= exc.smtp_code < 600 else TemporaryFailure
            raise failure(f"{exc.smtp_code} {_text(exc.smtp_error)}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise TemporaryFailure(f"{type(exc).__name__}: {exc}") from exc
        if refused:
            code, text = next(iter(refused.values()))
            raise (PermanentFailure if 500 <= code < 600 else TemporaryFailure)(f"{code} {_text(text)}")

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._smtp.quit()
            self._smtp = None


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def retry_delay(settings: Settings, attempts: int) -> timedelta:
    """Exponential backoff with ±20 % jitter, capped."""
    base = min(settings.outbox_retry_base_seconds * 2 ** (attempts - 1), settings.outbox_retry_max_seconds)
    return timedelta(seconds=base * random.uniform(0.8, 1.2))  # jitter, not security


def claim_batch(session: Session, now: datetime, size: int) -> list[OutboxMessage]:
    """Due pending messages, row-locked so concurrent workers skip each other's (SKIP LOCKED)."""
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(size)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(stmt))


def deliver_batch(
    session: Session, settings: Settings, sender: SmtpSender, now: datetime | None = None
) -> DeliveryReport:
    """Send one claimed batch inside the caller's transaction and record each outcome.

    A worker that dies mid-batch commits nothing: its messages stay pending and go out again with the same
    Message-ID, so duplicates are limited to the messages in flight at that moment.
    """
    now = now or utcnow()
    report = DeliveryReport()
    outcomes: list[tuple[OutboxMessage, str, dict[str, Any]]] = []
    sent: list[OutboxMessage] = []
    for message in claim_batch(session, now, settings.outbox_batch_size):
        try:
            sender.send(render_message(message, settings.mail_sender))
        except PermanentFailure as exc:
            message.attempts += 1
            _fail(message, str(exc))
            outcomes.append((message, "email.failed", {"error": message.last_error}))
            report.failed += 1
            report.errors.append(str(exc))
        except (TemporaryFailure, OSError) as exc:
            message.attempts += 1
            message.last_error = str(exc)
            if message.attempts >= settings.outbox_max_attempts:
                _fail(message, f"{exc} (nach {message.attempts} Versuchen)")
                outcomes.append((message, "email.failed", {"error": message.last_error}))
                report.failed += 1
            else:
                message.next_attempt_at = utcnow() + retry_delay(settings, message.attempts)
                report.retried += 1
            report.errors.append(str(exc))
        else:
            sent.append(message)
            report.sent += 1
            outcomes.append((message, "email.delivered", {}))
    _record_sent(session, sent)
    # Chain heads are locked only now, in case order: two workers' batches never wait on each other in a
    # cycle (a deadlock would roll back a batch whose messages were already sent, and send them twice).
    for message, action, extra in sorted(outcomes, key=lambda o: (o[0].case_id or 0, o[0].id)):
        _audit(session, message, action, **extra)
    session.flush()
    return report


def _record_sent(session: Session, sent: list[OutboxMessage]) -> None:
    """Mark the batch's sent messages in one UPDATE (the unit of work issues one statement per row, which
    took most of a batch's database time) and bring the loaded objects up to date without marking them
    changed. `sent_at` is the moment the batch is recorded, like the `email.delivered` audit events: a
    batch goes out within moments."""
    if not sent:
        return
    moment = utcnow()
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_([message.id for message in sent]))
        .values(status="sent", attempts=OutboxMessage.attempts + 1, last_error=None, sent_at=moment),
        execution_options={"synchronize_session": False},
    )
    for message in sent:
        show_stored(
            message,
            {"status": "sent", "attempts": message.attempts + 1, "last_error": None, "sent_at": moment},
        )


def _fail(message: OutboxMessage, error: str) -> None:
    message.status, message.last_error = "failed", error
    log.warning("outbox message %s to %s failed: %s", message.id, message.recipient, error)


def _audit(session: Session, message: OutboxMessage, action: str, **extra: Any) -> None:
    """Case emails belong to the case's history; reminders to contacts are counted, not chained singly."""
    if message.case_id is None:
        return
    case = session.get(Case, message.case_id)
    chain.append(
        session,
        actor=DELIVERY_ACTOR,
        action=action,
        case=case,
        data={
            "outbox": message.id,
            "kind": message.kind,
            "to": message.recipient,
            "message_id": message.message_id,
            "attempts": message.attempts,
            **extra,
        },
    )


def cancel_pending(session: Session, actor: Actor, message_ids: list[int], reason: str) -> int:
    """Withdraw pending messages (e.g. historic demo mail); recorded like every change."""
    messages = session.scalars(
        select(OutboxMessage).where(OutboxMessage.id.in_(message_ids), OutboxMessage.status == "pending")
    ).all()
    for message in messages:
        message.status, message.last_error = "cancelled", reason
    session.flush()
    if messages:
        chain.append(
            session,
            actor=actor,
            action="email.cancelled",
            data={"count": len(messages), "reason": reason, "outbox": [m.id for m in messages][:1000]},
        )
    return len(messages)
