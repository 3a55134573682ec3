"""Certificates end to end: completing a project makes real workers issue, render and email each certificate
once — however often the issuance task is delivered — and the public page verifies (and later revokes) it."""

from __future__ import annotations

import hashlib
import io
import uuid
from collections import Counter
from email.message import Message

from pypdf import PdfReader
from sqlalchemy import func, select

from ews_cases.models import AuditEvent, Case, Certificate
from ews_cases.services.certificates import revoke_certificate
from testkit.factories import FINNENTROP, Factory
from tests.workers.test_reminders import body, subject, wait_for_results
from workers import tasks
from workflows import State

A4 = (595, 842)  # points, rounded


def certificate_mails(messages: list[Message]) -> list[Message]:
    return [m for m in messages if subject(m).startswith("Ihr Zertifikat")]


def attachments(message: Message) -> dict[str, bytes]:
    return {
        part.get_filename(): part.get_payload(decode=True) for part in message.walk() if part.get_filename()
    }


def link_targets(reader: PdfReader) -> list[str]:
    """The URIs of the link annotations on the certificate's page."""
    targets = []
    for annotation in reader.pages[0].get("/Annots") or []:
        annotation = annotation.get_object()
        if annotation.get("/Subtype") == "/Link" and "/A" in annotation:
            targets.append(annotation["/A"].get_object()["/URI"])
    return targets


def test_completing_a_project_issues_and_emails_each_certificate_once(
    worker_app, start_worker, smtp_sink, database, session, factory: Factory
):
    cohort = factory.cohort(
        title="6. Entwicklungswerkstatt",
        ceremony_place="Siegburg",
        signatory_name="Dr. Maria Muster",
        signatory_title="Ministerium für Heimat, Kommunales, Bau und Digitalisierung NRW",
    )
    factory.workshop(cohort)
    case = factory.case(cohort, FINNENTROP, state=State.ATTENDING)
    session.commit()
    workers = [start_worker(), start_worker()]
    for worker in workers:
        worker.wait_ready()

    # While workers run, changes are made as the web app makes them: in a write transaction of their own.
    with database.transaction() as s:
        Factory(s).fire(s.get(Case, case.id), "complete_project")  # the commit queues the issuance
    # The same task message delivered again (as after a lost acknowledgement), and once more besides.
    task_id = str(uuid.uuid4())
    tasks.issue_certificates.apply_async((case.id,), task_id=task_id)
    tasks.issue_certificates.apply_async((case.id,), task_id=task_id)
    tasks.scan_certificates.delay()

    issued = wait_for_results(workers, "issue_certificates", 3)
    scanned = wait_for_results(workers, "scan_certificates", 1)
    assert sorted(issued + scanned) == [0, 0, 0, 2], (issued, scanned)  # one run issued both, the others none
    smtp_sink.wait_for(2)
    mails = certificate_mails(smtp_sink.settle(quiet=1.5))

    with database.sessionmaker() as s:
        certificates = s.scalars(
            select(Certificate).where(Certificate.case_id == case.id).order_by(Certificate.serial)
        ).all()
        assert s.get(Case, case.id).state == State.CERTIFIED
        issued_events = s.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.case_id == case.id, AuditEvent.action == "certificate.issued")
        )
    assert issued_events == 2
    assert len(certificates) == 2
    assert len({c.serial for c in certificates}) == 2
    members = {m.id: m for m in case.team}
    assert {c.member_id for c in certificates} == set(members)

    assert Counter(m["To"] for m in mails) == {"person1@example.org": 1, "person2@example.org": 1}
    for certificate in certificates:
        member = members[certificate.member_id]
        [mail] = [m for m in mails if m["To"] == member.email]
        url = f"http://ews.test/verify/{certificate.verification_code}"
        assert url in body(mail)
        pdf = attachments(mail)[f"Zertifikat-{certificate.serial}.pdf"]
        assert hashlib.sha256(pdf).hexdigest() == certificate.pdf_sha256

        reader = PdfReader(io.BytesIO(pdf))
        assert len(reader.pages) == 1
        box = reader.pages[0].mediabox
        assert (round(float(box.width)), round(float(box.height))) == A4
        text = reader.pages[0].extract_text()
        assert f"Echtheit prüfen: ews.test/verify/{certificate.verification_code}" in text
        assert member.name in text
        assert certificate.serial in text
        assert "Engagementlotsen" in text  # the practice project
        assert "Siegburg" in text
        assert "Dr. Maria Muster" in text
        assert "6. Entwicklungswerkstatt" in text
        assert link_targets(reader) == [url]

    # The public page answers what the QR code points to: valid, and revoked after revocation.
    client = worker_app.test_client()
    first = certificates[0]
    answer = client.get(f"/verify/{first.verification_code}", headers={"Accept": "application/json"})
    assert answer.status_code == 200
    assert (answer.get_json()["status"], answer.get_json()["name"]) == ("valid", first.holder_name)
    with database.transaction() as s:
        revoke_certificate(
            s, s.get(Certificate, first.id), Factory(s).coordinator(), "Versehentlich ausgestellt"
        )
    answer = client.get(f"/verify/{first.verification_code}", headers={"Accept": "application/json"})
    assert (answer.get_json()["valid"], answer.get_json()["status"]) == (False, "revoked")
    other = client.get(f"/verify/{certificates[1].verification_code}", headers={"Accept": "application/json"})
    assert other.get_json()["status"] == "valid"

    # A late rerun issues and sends nothing more.
    tasks.issue_certificates.delay(case.id)
    wait_for_results(workers, "issue_certificates", len(issued) + 1)
    assert len(certificate_mails(smtp_sink.settle(quiet=1.0))) == 2
    with database.sessionmaker() as s:
        assert s.scalar(select(func.count()).where(Certificate.case_id == case.id)) == 2
