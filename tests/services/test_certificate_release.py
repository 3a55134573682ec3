"""Certificates released on the ceremony day, released early by the office, and replaced by a corrected one."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from ews_cases.audit.chain import verify_database
from ews_cases.audit.queries import resolved_data
from ews_cases.errors import Conflict, NotFound, ValidationFailed
from ews_cases.models import AuditEvent, Case, Certificate, OutboxMessage
from ews_cases.services.certificates import (
    issue_due_certificates,
    pdf_file,
    prepared_certificates,
    release_cohort_early,
    replace_certificate,
)
from testkit.factories import FINNENTROP, SYSTEM
from workflows import BERLIN, Effect, Role, State

JSON = {"Accept": "application/json"}


def certificates_of(session, case: Case) -> list[Certificate]:
    return list(
        session.scalars(select(Certificate).where(Certificate.case_id == case.id).order_by(Certificate.id))
    )


def count(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where))


def certificate_mails(session, case: Case) -> int:
    return count(
        session,
        OutboxMessage,
        OutboxMessage.case_id == case.id,
        OutboxMessage.kind == Effect.SEND_CERTIFICATES.value,
    )


@pytest.fixture
def ceremony_case(session, factory) -> Case:
    """A case of a cohort whose ceremony is 30 days away, its project just completed (prepared certificates)."""
    cohort = factory.cohort(
        title="6. Entwicklungswerkstatt",
        ceremony_place="Siegburg",
        ceremony_on=factory.now.astimezone(BERLIN).date() + timedelta(days=30),
    )
    factory.workshop(cohort)
    case = factory.case(cohort, FINNENTROP, state=State.PROJECT_DONE)
    factory.fire(case, "certify")  # what the issuance task does right after `complete_project`
    session.commit()
    return case


def test_before_the_ceremony_certificates_are_prepared_but_not_valid_sent_or_downloadable(
    app, session, ceremony_case
):
    certificates = certificates_of(session, ceremony_case)
    assert len(certificates) == 2
    assert all(c.pdf_sha256 and c.released_at is None and c.status == "prepared" for c in certificates)
    assert ceremony_case.state == State.PROJECT_DONE
    assert certificate_mails(session, ceremony_case) == 0
    assert prepared_certificates(session, ceremony_case.cohort) == certificates
    client = app.test_client()
    body = client.get(f"/verify/{certificates[0].verification_code}", headers=JSON).get_json()
    assert (body["valid"], body["status"]) == (False, "prepared")
    page = client.get(f"/verify/{certificates[0].verification_code}").get_data(as_text=True)
    assert "Noch nicht gültig." in page
    with pytest.raises(NotFound):
        pdf_file(certificates[0], Role.APPLICANT)  # the holder's side
    assert pdf_file(certificates[0], Role.COORDINATOR).is_file()  # the office sees it


def test_on_the_ceremony_day_the_beat_releases_once(app, db, session, ceremony_case):
    ceremony = ceremony_case.cohort.ceremony_on
    day_before = datetime.combine(ceremony - timedelta(days=1), time(23, 50), tzinfo=BERLIN)
    on_the_day = datetime.combine(ceremony, time(0, 10), tzinfo=BERLIN)
    session.commit()
    assert issue_due_certificates(db, SYSTEM, day_before) == 0
    session.commit()  # a fresh snapshot: the scans committed in transactions of their own
    session.expire_all()
    assert session.get(Case, ceremony_case.id).state == State.PROJECT_DONE
    assert certificate_mails(session, ceremony_case) == 0

    issue_due_certificates(db, SYSTEM, on_the_day)
    issue_due_certificates(db, SYSTEM, on_the_day + timedelta(minutes=2))  # the next beat: nothing twice
    session.commit()
    session.expire_all()
    assert session.get(Case, ceremony_case.id).state == State.CERTIFIED
    certificates = certificates_of(session, ceremony_case)
    assert all(c.status == "valid" for c in certificates)
    assert certificate_mails(session, ceremony_case) == 2
    released = count(
        session,
        AuditEvent,
        AuditEvent.case_id == ceremony_case.id,
        AuditEvent.action == "certificate.released",
    )
    assert released == 2
    certify = count(
        session,
        AuditEvent,
        AuditEvent.case_id == ceremony_case.id,
        AuditEvent.action == "transition.certify",
    )
    assert certify == 1
    body = app.test_client().get(f"/verify/{certificates[0].verification_code}", headers=JSON).get_json()
    assert (body["valid"], body["status"]) == (True, "valid")
    assert pdf_file(certificates[0], Role.APPLICANT).is_file()


def test_the_office_releases_a_cohort_early_with_a_reason(session, factory, ceremony_case):
    cohort = ceremony_case.cohort
    office = factory.coordinator()
    with pytest.raises(ValidationFailed):
        release_cohort_early(session, cohort, office, "  ")
    assert release_cohort_early(session, cohort, office, "Feier wegen Hochwasser abgesagt") == 1
    session.commit()
    assert session.get(Case, ceremony_case.id).state == State.CERTIFIED
    assert certificate_mails(session, ceremony_case) == 2
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "cohort.certificates_released"))
    assert resolved_data(session, event.data)["reason"] == "Feier wegen Hochwasser abgesagt"
    with pytest.raises(Conflict):
        release_cohort_early(session, cohort, office, "Noch einmal")


def test_replacing_a_certificate_revokes_it_links_the_new_one_and_sends_one_email(app, session, factory):
    cohort = factory.cohort(title="6. Entwicklungswerkstatt", ceremony_place="Siegburg")
    factory.workshop(cohort)
    case = factory.case(cohort, FINNENTROP, state=State.CERTIFIED)
    session.commit()
    old = certificates_of(session, case)[0]
    mails_before = count(session, OutboxMessage, OutboxMessage.case_id == case.id)

    new = replace_certificate(
        session, old, factory.coordinator(), "Name falsch geschrieben", holder_name="Łucja Wąsik-Nguyễn"
    )
    session.commit()
    assert (old.status, old.replaced_by_id, old.revoked_reason) == (
        "revoked",
        new.id,
        "Name falsch geschrieben",
    )
    assert (new.status, new.member_id, new.holder_name) == ("valid", old.member_id, "Łucja Wąsik-Nguyễn")
    assert new.serial != old.serial
    assert new.pdf_sha256
    assert session.get(Case, case.id).state == State.CERTIFIED
    mails = session.scalars(
        select(OutboxMessage).where(OutboxMessage.case_id == case.id).order_by(OutboxMessage.id)
    ).all()
    assert len(mails) == mails_before + 1
    assert mails[-1].kind == "replace_certificate"
    assert new.serial in mails[-1].subject + mails[-1].body
    assert [a["filename"] for a in mails[-1].attachments] == [f"Zertifikat-{new.serial}.pdf"]
    actions = [
        e.data.get("serial")
        for e in session.scalars(select(AuditEvent).where(AuditEvent.case_id == case.id))
        if e.action in ("certificate.revoked", "certificate.replaced")
    ]
    assert actions == [old.serial, new.serial]
    assert verify_database(session).ok

    client = app.test_client()
    body = client.get(f"/verify/{old.verification_code}", headers=JSON).get_json()
    assert (body["status"], body["replaced_by"]) == ("revoked", new.serial)
    page = client.get(f"/verify/{old.verification_code}").get_data(as_text=True)
    assert "ersetzt durch" in page
    assert f'href="http://ews.test/verify/{new.verification_code}"' in page
    assert client.get(f"/verify/{new.verification_code}", headers=JSON).get_json()["valid"] is True
    with pytest.raises(Conflict):  # a revoked certificate is not replaced twice
        replace_certificate(session, old, factory.coordinator(), "Noch einmal")
