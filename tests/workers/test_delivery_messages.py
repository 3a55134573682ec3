"""What goes over the wire for an outbox message: German text and names intact, the stored Message-ID,
attachments, no header injection, and SMTPUTF8 only for internationalised addresses; sent to a real SMTP
server (aiosmtpd) through `SmtpSender`."""

from __future__ import annotations

import base64
import email
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage

from sqlalchemy import select, update

from ews_cases.mail.delivery import Outgoing, SmtpSender, deliver_batch, render_message
from ews_cases.mail.outbox import Email, enqueue_emails
from ews_cases.models import OutboxMessage

SENDER = "Entwicklungswerkstatt für kommunale Engagementstrategien <ews@example.org>"
BODY = (
    "Guten Tag Frau Müller,\n\nBewerbungen für die 7. Entwicklungswerkstatt sind noch bis Ende Juni möglich — "
    "auch für Köln. Dieser Satz ist länger als eine Zeile einer E-Mail sein darf, damit er umbrochen werden muss.\n"
)


def outbox_message(**values) -> OutboxMessage:
    defaults = {
        "recipient": "anna.mueller@koeln.example",
        "subject": "Erinnerung: Bewerbungsfrist 7. Entwicklungswerkstatt endet am 30.06.2027 — für Köln",
        "body": BODY,
        "message_id": "<0f1e2d3c@example.org>",
        "created_at": datetime(2027, 6, 23, 7, 0, tzinfo=UTC),
        "headers": {"List-Unsubscribe": "<https://ews.example.org/unsubscribe/abc>"},
        "attachments": [],
    }
    return OutboxMessage(**{**defaults, **values})


def parsed(outgoing: Outgoing) -> EmailMessage:
    return email.message_from_bytes(outgoing.data, policy=policy.default)


def text_of(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def test_a_message_keeps_its_german_text_its_names_and_its_message_id():
    outgoing = render_message(outbox_message(), SENDER)
    message = parsed(outgoing)
    assert (outgoing.sender, outgoing.recipient, outgoing.smtputf8) == (
        "ews@example.org",
        "anna.mueller@koeln.example",
        False,
    )
    assert outgoing.data.isascii()  # 7-bit clean: any server takes it
    assert max(len(line) for line in outgoing.data.split(b"\r\n")) <= 78
    assert message["Subject"] == outbox_message().subject
    assert (
        message["From"].addresses[0].display_name
        == "Entwicklungswerkstatt für kommunale Engagementstrategien"
    )
    assert message["From"].addresses[0].addr_spec == "ews@example.org"
    assert message["To"] == "anna.mueller@koeln.example"
    assert message["Message-ID"] == "<0f1e2d3c@example.org>"
    assert message["Date"].datetime == datetime(2027, 6, 23, 7, 0, tzinfo=UTC)
    assert message["List-Unsubscribe"] == "<https://ews.example.org/unsubscribe/abc>"
    assert text_of(message) == BODY
    assert render_message(outbox_message(), SENDER).data == outgoing.data  # a resend is the same message


def test_a_line_break_in_a_subject_cannot_add_a_header():
    outgoing = render_message(outbox_message(subject="Hallo\r\nBcc: alle@example.org"), SENDER)
    message = parsed(outgoing)
    assert message["Bcc"] is None
    assert message["Subject"] == "Hallo Bcc: alle@example.org"


def test_attachments_from_a_file_and_inline_arrive_with_their_names(tmp_path):
    pdf = tmp_path / "EWS7-2027-001.pdf"
    pdf.write_bytes(b"%PDF-1.7 Zertifikat")
    ics = "BEGIN:VCALENDAR\r\nSUMMARY:Workshop in Köln\r\nEND:VCALENDAR\r\n".encode()
    outgoing = render_message(
        outbox_message(
            attachments=[
                {"filename": "Zertifikat Müller.pdf", "content_type": "application/pdf", "path": str(pdf)},
                {
                    "filename": "termine.ics",
                    "content_type": "text/calendar",
                    "content_b64": base64.b64encode(ics).decode("ascii"),
                },
            ]
        ),
        SENDER,
    )
    message = parsed(outgoing)
    assert text_of(message) == BODY
    files = {
        part.get_filename(): (part.get_content_type(), part.get_payload(decode=True))
        for part in message.iter_attachments()
    }
    assert files == {
        "Zertifikat Müller.pdf": ("application/pdf", b"%PDF-1.7 Zertifikat"),
        "termine.ics": ("text/calendar", ics),
    }
    assert outgoing.data.count(b"MIME-Version") == 1


def test_an_internationalised_address_is_sent_with_smtputf8():
    outgoing = render_message(outbox_message(recipient="jürgen@müllheim.example"), SENDER)
    assert outgoing.smtputf8
    assert "To: jürgen@müllheim.example\r\n".encode() in outgoing.data


def test_the_sender_delivers_the_rendered_bytes_over_one_connection(settings, smtp_sink):
    sender = SmtpSender(
        settings.model_copy(update={"smtp_host": smtp_sink.host, "smtp_port": smtp_sink.port})
    )
    try:
        for n in range(3):
            sender.send(render_message(outbox_message(message_id=f"<m{n}@example.org>"), SENDER))
        connection = sender._smtp
        sender.send(render_message(outbox_message(message_id="<m3@example.org>"), SENDER))
        assert sender._smtp is connection
    finally:
        sender.close()
    received = smtp_sink.wait_for(4)
    assert [m["Message-ID"] for m in received] == [f"<m{n}@example.org>" for n in range(4)]
    assert {m["To"] for m in received} == {"anna.mueller@koeln.example"}
    assert len(set(smtp_sink.peer_ports)) == 1


def test_a_delivered_batch_records_each_message_once_as_sent(db, settings, smtp_sink):
    """The batch's sent messages are marked in one statement; what is stored matches what was sent."""
    smtp_sink.decide = lambda m: "550 5.1.1 no such user" if m["To"] == "weg@example.org" else None
    with db.transaction() as s:
        enqueue_emails(
            s,
            [
                Email(f"batch:{n}", "test", f"r{n}@example.org", f"Nachricht {n}", "Text für Köln.\n")
                for n in range(3)
            ]
            + [Email("batch:gone", "test", "weg@example.org", "Nachricht", "Text.\n")],
        )
        s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.dedup_key == "batch:0")
            .values(attempts=2, last_error="451 4.3.0 try again")
        )
    sending = settings.model_copy(update={"smtp_host": smtp_sink.host, "smtp_port": smtp_sink.port})
    sender = SmtpSender(sending)
    try:
        with db.transaction() as s:
            report = deliver_batch(s, sending, sender)
            loaded = {
                m.dedup_key: (m.status, m.attempts, m.last_error) for m in s.scalars(select(OutboxMessage))
            }
    finally:
        sender.close()

    assert (report.sent, report.failed, report.retried) == (3, 1, 0)
    with db.session() as s:
        rows = {m.dedup_key: m for m in s.scalars(select(OutboxMessage))}
    stored = {key: (m.status, m.attempts, m.last_error) for key, m in rows.items()}
    assert (
        stored
        == loaded
        == {
            "batch:0": ("sent", 3, None),
            "batch:1": ("sent", 1, None),
            "batch:2": ("sent", 1, None),
            "batch:gone": ("failed", 1, "550 5.1.1 no such user"),
        }
    )
    assert all(rows[f"batch:{n}"].sent_at is not None for n in range(3))
    assert rows["batch:gone"].sent_at is None
    assert sorted(m["Message-ID"] for m in smtp_sink.wait_for(3)) == sorted(
        rows[f"batch:{n}"].message_id for n in range(3)
    )
    with db.transaction() as s:
        assert deliver_batch(s, sending, SmtpSender(sending)).handled == 0  # nothing is due any more
