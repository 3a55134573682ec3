"""A world whose audit trail holds every kind of event the code base writes (bar a password change), all
through the services: one case from its creation to a revoked certificate, with an edit, two reviews,
corrected attendance, a practice project sent back once, one email delivered over SMTP and one refused;
and outside cases: cohorts, a session, contacts, accounts, tokens, reminders and cancelled mail.

People and sessions carry German names, so that an English word on a page can only come from the code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session

from ews_cases.mail.delivery import SmtpSender, cancel_pending, deliver_batch
from ews_cases.models import Case, Certificate, Cohort, CohortSession, OutboxMessage, User, utcnow
from ews_cases.services.access_requests import (
    confirm_access_request,
    decline_access_request,
    request_access,
)
from ews_cases.services.accessibility_feedback import report_barrier
from ews_cases.services.accounts import change_access, create_account, revoke_api_token, set_user_active
from ews_cases.services.actors import actor_for
from ews_cases.services.cases import CaseInput, MemberInput, create_case, update_draft
from ews_cases.services.certificates import (
    issue_missing_certificates,
    release_cohort_early,
    replace_certificate,
    revoke_certificate,
)
from ews_cases.services.checkpoints import set_checkpoint_mail
from ews_cases.services.cohorts import add_session, update_cohort
from ews_cases.services.contacts import add_contact
from ews_cases.services.invitations import accept_invitation, expire_invitations, invite
from ews_cases.services.participation import record_attendance, update_project
from ews_cases.services.password_reset import request_password_reset, reset_password
from ews_cases.services.privacy import erase_case, lift_legal_hold, set_legal_hold
from ews_cases.services.reminders import run_reminder_scan
from ews_cases.services.reviews import record_review
from ews_cases.services.second_factor import (
    disable_second_factor,
    enrol_second_factor,
    new_totp_secret,
    renew_recovery_codes,
    reset_second_factor,
    use_recovery_code,
)
from ews_cases.services.session_changes import cancel_session, change_session
from ews_cases.services.subject_access import export_person
from ews_cases.services.subscriptions import resubscribe, unsubscribe
from ews_cases.services.transitions import apply_transition
from ews_cases.settings import Settings
from testkit.factories import ATTENDORN, BONN, FINNENTROP, SYSTEM, Factory
from workflows import BERLIN, Actor, State

PASSWORD = "Pruefung-Passwort-1"
SCORES = {"need": 4, "strategy": 3, "leadership": 5, "capacity": 4, "network": 3}
OLD_GOALS = "Eine Engagementstrategie für die ganze Stadt."
NEW_GOALS = "Eine Engagementstrategie mit allen Ortsteilen."
REFUSED = "abgelehnt@finnentrop.example"


@dataclass
class History:
    case: Case
    cohort: Cohort
    workshop: CohortSession
    auditor: User
    coordinator: User
    reviewers: tuple[User, User]
    revoked: Certificate


def content(goals: str) -> CaseInput:
    return CaseInput(
        contact_name="Erika Engagiert",
        contact_email="erika.engagiert@finnentrop.example",
        contact_phone="02721 5120",
        team=[
            MemberInput("Anna Engagiert", "anna.engagiert@finnentrop.example", "Sozialplanung"),
            MemberInput("Bernd Bürgersinn", REFUSED, "Ehrenamtsbüro"),
        ],
        answers={
            "motivation": "Finnentrop will Engagement in allen Ortsteilen stärken.",
            "starting_point": "Viele Vereine, keine gemeinsame Anlaufstelle.",
            "goals": goals,
            "leadership_support": "Bürgermeister Achim Henkel",
        },
        consent=True,
    )


def person(session: Session, role: str, name: str, email: str, ags: str | None = None) -> User:
    user, _token = create_account(
        session, SYSTEM, email=email, name=name, role=role, municipality_ags=ags, password=PASSWORD
    )
    return user


def build_history(
    session: Session, factory: Factory, settings: Settings, smtp_host: str, smtp_port: int
) -> History:
    """The world described above, committed; emails go to the SMTP server at `smtp_host:smtp_port`."""
    today = factory.now.astimezone(BERLIN).date()
    admin = actor_for(person(session, "admin", "Ada Administration", "ada@land.example"))
    coordinator = person(session, "coordinator", "Karla Koordination", "karla@land.example")
    office = actor_for(coordinator)
    applicant = person(session, "applicant", "Franz Finnentrop", "franz@finnentrop.example", FINNENTROP)
    town = actor_for(applicant)
    reviewers = (
        person(session, "reviewer", "Dr. Beispiel", "beispiel@gutachten.example"),
        person(session, "reviewer", "Prof. Muster", "muster@gutachten.example"),
    )
    auditor = person(session, "auditor", "Rita Revision", "rita@lrh.example")

    cohort = factory.cohort(title="7. Entwicklungswerkstatt", region=None)
    update_cohort(session, office, cohort, {"capacity": 12})
    start = datetime.combine(cohort.starts_on, time(9), UTC)
    workshop = add_session(
        session,
        office,
        cohort,
        kind="workshop",
        title="Engagement vor Ort",
        starts_at=start,
        ends_at=start + timedelta(hours=6),
        location="Köln",
    )

    case = create_case(
        session, office, cohort_number=cohort.number, municipality_ags=FINNENTROP, content=content(OLD_GOALS)
    )
    update_draft(session, case, town, expected_version=case.version, content=content(NEW_GOALS))
    apply_transition(session, case, "submit", town, case.version)
    record_review(session, case, reviewers[0], scores=SCORES, recommendation="admit", comment="Überzeugend.")
    record_review(session, case, reviewers[1], scores=SCORES, recommendation="waitlist")
    apply_transition(session, case, "admit", office, case.version)
    apply_transition(session, case, "start", office, case.version, now=factory.after_start(case))
    anna, bernd = case.team
    record_attendance(session, case, office, session_id=workshop.id, member_id=anna.id, status="excused")
    record_attendance(session, case, office, session_id=workshop.id, member_id=anna.id, status="present")
    record_attendance(session, case, office, session_id=workshop.id, member_id=bernd.id, status="absent")
    update_project(session, case, town, title="Engagementlotsen", summary="Lotsen in jedem Ortsteil.")
    update_project(session, case, town, status="submitted")
    update_project(session, case, office, status="planned", reason="Bitte den Zeitplan ergänzen.")
    update_project(session, case, town, report="Zeitplan ergänzt.", status="submitted")
    update_project(session, case, office, status="approved")
    apply_transition(session, case, "complete_project", office, case.version)
    issued = issue_missing_certificates(session, case, Actor.system("issue_certificates"))
    revoked = revoke_certificate(session, issued[0], office, "Name falsch geschrieben.")
    session.commit()

    # Deliver the case's emails over SMTP: the server refuses one address for good.
    mail = settings.model_copy(
        update={"smtp_host": smtp_host, "smtp_port": smtp_port, "outbox_batch_size": 500}
    )
    sender = SmtpSender(mail)
    try:
        deliver_batch(session, mail, sender, now=utcnow() + timedelta(days=1))
    finally:
        sender.close()
    session.commit()

    # The cohort's workshop moves, an excursion added to it is called off (global chain, emails to the team).
    change_session(session, office, workshop, location="Bonn")
    excursion = add_session(
        session,
        office,
        cohort,
        kind="workshop",
        title="Exkursion",
        starts_at=start + timedelta(days=14),
        ends_at=start + timedelta(days=14, hours=4),
        location="Dortmund",
    )
    cancel_session(session, office, excursion, reason="Zu wenige Anmeldungen.")
    session.commit()

    # Outside the case: contacts and their reminders, accounts and tokens, cancelled mail.
    soon = factory.cohort(
        title="8. Entwicklungswerkstatt",
        applications_open_at=factory.now - timedelta(days=10),
        application_deadline=today + timedelta(days=7),
    )
    contact = add_contact(session, office, ATTENDORN, "Carla Kontakt", "carla@attendorn.example")
    run_reminder_scan(session, datetime.combine(today, time(10), BERLIN))
    unsubscribe(session, contact.unsubscribe_token)
    unsubscribe(session, applicant.unsubscribe_token)
    resubscribe(session, contact.unsubscribe_token)  # the office's contact clicked by mistake
    resubscribe(session, applicant.unsubscribe_token)
    pending = session.scalars(
        select(OutboxMessage.id).where(
            OutboxMessage.status == "pending", OutboxMessage.kind == "deadline_reminder"
        )
    ).all()
    cancel_pending(session, office, list(pending), "Versehentlich vorgemerkt.")
    # Data protection: a legal hold set and lifted, an access request, and a withdrawn draft erased.
    set_legal_hold(session, case, office, "Prüfung durch den Landesrechnungshof")
    lift_legal_hold(session, case, office, "Prüfung abgeschlossen")
    export_person(session, "carla@attendorn.example", office)
    gone = create_case(
        session, office, cohort_number=soon.number, municipality_ags=BONN, content=content(OLD_GOALS)
    )
    erase_case(session, gone, office, reason="Antrag der Kommune")
    _user, token = create_account(
        session, admin, email="dora@land.example", name="Dora Daten", role="auditor", token_name="Auswertung"
    )
    revoke_api_token(session, admin, token.record.id)
    dora = session.get(User, _user.id)
    change_access(
        session, admin, dora, role="reviewer", municipality_ags=None, reason="Wechsel in die Begutachtung"
    )
    set_user_active(session, admin, dora, False)
    set_user_active(session, admin, dora, True, reason="Rückkehr")
    _account_security(session, admin, applicant)
    _access(session, office)
    set_checkpoint_mail(session, actor_for(auditor), auditor, True)
    # A cohort whose ceremony is ahead: certificates prepared, then released early by the office.
    later = factory.cohort(title="9. Entwicklungswerkstatt", ceremony_on=today + timedelta(days=30))
    factory.workshop(later)
    waiting = factory.case(later, ATTENDORN, state=State.PROJECT_DONE)
    issue_missing_certificates(session, waiting, Actor.system("issue_certificates"))
    release_cohort_early(session, later, office, "Abschlussfeier entfällt.")
    first = session.scalars(select(Certificate).where(Certificate.case_id == waiting.id)).first()
    replace_certificate(session, first, office, "Tippfehler im Namen.", holder_name="Paula Person-Neu")
    session.commit()
    assert soon.id
    return History(case, cohort, workshop, auditor, coordinator, reviewers, revoked)


#: The password the world's applicant sets through the reset link (it follows the password rules).
NEW_PASSWORD = "Lindenblüte-Fährhaus-Kanal-42"


def _account_security(session, admin, person: User) -> None:
    """Password reset and the second factor, through the services, so their events are in the world too."""
    request_password_reset(session, person.email)
    letter = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.kind == "password_reset", OutboxMessage.recipient == person.email
        )
    ).one()
    token = re.search(r"/passwort-vergessen/(\S+)", letter.body)
    assert token is not None
    reset_password(session, token.group(1), NEW_PASSWORD)
    actor = actor_for(person)
    secret = new_totp_secret()
    codes = enrol_second_factor(session, actor, person, secret, pyotp.TOTP(secret).now())
    use_recovery_code(session, actor, person, codes[0])
    renew_recovery_codes(session, actor, person, NEW_PASSWORD)
    disable_second_factor(session, actor, person, NEW_PASSWORD)
    secret = new_totp_secret()
    enrol_second_factor(session, actor, person, secret, pyotp.TOTP(secret).now())
    reset_second_factor(session, admin, person)


def _access(session, office) -> None:
    """Invitations and access requests: sent, accepted, expired; received, confirmed, declined."""
    confirmed = request_access(
        session, name="Olga Olpe", email="olga@olpe.example", municipality_ags="05966024", position="Büro"
    )
    declined = request_access(
        session, name="Bernd Bonn", email="bernd@bonn.example", municipality_ags="05314000", position="Amt"
    )
    invitation = confirm_access_request(session, office, confirmed)
    decline_access_request(session, office, declined, "Die Stadt nimmt bereits teil.")
    report_barrier(
        session,
        description="Der Kontrast ist zu schwach.",
        page="/impressum",
        name="Rita",
        email="rita@example.org",
    )
    letter = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.kind == "invitation", OutboxMessage.recipient == invitation.email
        )
    ).one()
    token = re.search(r"/zugang/(\S+)", letter.body)
    assert token is not None
    accept_invitation(session, token.group(1), NEW_PASSWORD)
    late = invite(session, office, email="spaet@land.example", name="Sina Spät", role="reviewer")
    expire_invitations(session, late.expires_at + timedelta(seconds=1))


__all__ = ["NEW_GOALS", "OLD_GOALS", "PASSWORD", "REFUSED", "SCORES", "History", "build_history"]
