"""Every letter kind, rendered through the real services, compared with its recorded text.

The recording (`letter_texts.txt`) was made before the letters moved from Python code into templates; a
change of wording shows up here as a diff and is made on purpose, by regenerating the file with
`EWS_RECORD_LETTERS=1`. The journey (`arrange`) has people with and without a salutation, with and without
an account, and the programme office configured as an operator would (`OFFICE`).
"""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from ews_cases.i18n.formatting import de_datetime
from ews_cases.models import (
    AuditCheckpoint,
    Case,
    Certificate,
    CohortSession,
    Contact,
    Invitation,
    OutboxMessage,
    User,
)
from ews_cases.services import cohorts, session_changes, users
from ews_cases.services.access_requests import decline_access_request, request_access
from ews_cases.services.accessibility_feedback import report_barrier
from ews_cases.services.cases import CaseInput, MemberInput
from ews_cases.services.certificates import replace_certificate
from ews_cases.services.checkpoints import set_checkpoint_mail, write_checkpoint
from ews_cases.services.contacts import add_contact
from ews_cases.services.invitations import invite, link_token
from ews_cases.services.reminders import run_reminder_scan
from ews_cases.services.session_reminders import run_session_reminders
from ews_cases.settings import Settings
from testkit.factories import SYSTEM, complete_content
from tests.mail.test_letters import KINDS
from workflows import State

RECORDING = Path(__file__).with_name("letter_texts.txt")
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TOWNS = ("05962004", "05962008", "05962012", "05962016", "05962020", "05962024", "05962028")
#: The programme office as an operator configures it (EWS_OFFICE_*).
OFFICE = {
    "office_name": "Programmbüro Entwicklungswerkstatt, Staatskanzlei NRW",
    "office_phone": "0211 837-0000",
    "office_email": "ews@stk.nrw.example",
    "office_address": "Horionplatz 1, 40213 Düsseldorf",
}


def configure_office(settings: Settings, monkeypatch) -> None:
    for name, value in OFFICE.items():
        monkeypatch.setattr(settings, name, value)


def arrange(session, factory) -> None:
    """Every letter kind but the password reset, through the real services; see the module's text."""
    factory.now = NOW
    cohort = factory.cohort(
        number=907,
        title="7. Entwicklungswerkstatt",
        applications_open_at=NOW - timedelta(days=30),
        application_deadline=date(2026, 3, 9),
        starts_on=date(2026, 3, 16),
        ends_on=date(2027, 3, 31),
    )
    cohorts.add_session(
        session,
        SYSTEM,
        cohort,
        kind="workshop",
        title="Auftaktwerkstatt „Engagement“",
        starts_at=datetime(2026, 3, 23, 9, 0, tzinfo=UTC),
        ends_at=datetime(2026, 3, 23, 15, 0, tzinfo=UTC),
        location="Köln",
    )
    cohorts.add_session(
        session,
        SYSTEM,
        cohort,
        kind="fachtagung",
        title="Fachtagung",
        starts_at=datetime(2026, 3, 18, 9, 0, tzinfo=UTC),
        ends_at=datetime(2026, 3, 18, 16, 0, tzinfo=UTC),
        location="Düsseldorf",
    )

    def case(ags: str, tag: str, state: State) -> Case:
        return factory.case(cohort, ags, content=complete_content(cohort.team_size, tag), state=state)

    certified = case(TOWNS[0], "a", State.PROJECT_DONE)
    dropped = case(TOWNS[1], "b", State.ATTENDING)
    factory.fire(dropped, "drop_out")
    # Salutations known and not; the contact person has an account, the team has not.
    users.create_user(
        session,
        SYSTEM,
        email="heide@kommune.example",
        name="Dr. Anna von der Heide",
        role="applicant",
        municipality_ags=TOWNS[2],
    )
    revised = factory.case(
        cohort,
        TOWNS[2],
        content=CaseInput(
            contact_name="Dr. Anna von der Heide",
            contact_email="heide@kommune.example",
            contact_salutation="Frau",
            team=[
                MemberInput("Jonas Berg", "berg@kommune.example", "Sachbearbeitung", "Herr"),
                MemberInput("Kim Sommer", "sommer@kommune.example", "Sachbearbeitung"),
            ],
            answers=complete_content().answers,
            consent=True,
        ),
        state=State.SUBMITTED,
    )
    factory.fire(revised, "return_for_revision")
    factory.fire(revised, "withdraw")
    refused = case(TOWNS[3], "d", State.WAITLISTED)
    freed = case(TOWNS[4], "e", State.ADMITTED)
    factory.fire(freed, "withdraw")  # the free place letter names the waitlisted case
    factory.fire(refused, "reject")
    case(TOWNS[5], "f", State.ATTENDING)
    factory.fire(certified, "certify")
    corrected = session.scalars(
        select(Certificate).where(Certificate.case_id == certified.id).order_by(Certificate.id)
    ).first()
    replace_certificate(session, corrected, factory.coordinator(), "Name falsch geschrieben.")
    case(TOWNS[6], "g", State.DRAFT)
    add_contact(session, SYSTEM, TOWNS[6], "Dana Entwurf", "dana@kommune.example")
    add_contact(session, SYSTEM, "05962032", "Olaf Offen", "olaf@kommune.example", "Herr")
    session.commit()
    run_reminder_scan(session, datetime(2026, 3, 2, 8, 30, tzinfo=UTC))  # 7 days before the deadline
    run_session_reminders(session, datetime(2026, 3, 16, 8, 30, tzinfo=UTC))  # 7 days before the workshop
    invite(session, SYSTEM, email="gerd@gutachten.example", name="Gerd Gutachter", role="reviewer", now=NOW)
    declined = request_access(
        session, name="Bernd Bonn", email="bernd@bonn.example", municipality_ags="05314000", position="Amt"
    )
    decline_access_request(session, SYSTEM, declined, "Die Stadt nimmt bereits teil.", now=NOW)
    workshop = session.scalars(select(CohortSession).where(CohortSession.kind == "workshop")).one()
    session_changes.change_session(session, SYSTEM, workshop, location="Düsseldorf")  # moved: an update
    report_barrier(
        session,
        description="Das Auswahlfeld „Kommune“ lässt sich mit dem Screenreader nicht bedienen.",
        page="Zugang beantragen",
        name="Rita Rückmeldung",
        email="rita@example.org",
    )
    auditor = users.create_user(
        session, SYSTEM, email="pruefer@lrh.example", name="Petra Prüfer", role="auditor"
    )
    set_checkpoint_mail(session, SYSTEM, auditor, True)
    write_checkpoint(session)
    session.commit()


def _placeholders(session) -> dict[str, str]:
    """Values that differ between runs (ids, tokens, codes) and their stable stand-ins."""
    found: dict[str, str] = {}
    for n, (case_id, reference) in enumerate(
        session.execute(select(Case.id, Case.reference).order_by(Case.id))
    ):
        found[reference] = f"<case {n} reference>"
        found[f"/faelle/{case_id}"] = f"/faelle/<case {n} id>"
    for n, (serial, code) in enumerate(
        session.execute(select(Certificate.serial, Certificate.verification_code).order_by(Certificate.id))
    ):
        found[serial] = f"<certificate {n} serial>"
        found[code] = f"<certificate {n} code>"
    for n, token in enumerate(session.scalars(select(Contact.unsubscribe_token).order_by(Contact.id))):
        found[token] = f"<contact {n} token>"
    for n, token in enumerate(session.scalars(select(User.unsubscribe_token).order_by(User.id))):
        found[token] = f"<user {n} token>"
    # The factory numbers its users per process (`Coordinator 37` after other tests in the same worker).
    made = [
        u
        for u in session.scalars(select(User).order_by(User.id))
        if re.fullmatch(r"[a-z]+\d+@example\.org", u.email)
    ]
    for n, user in enumerate(made):
        found[user.email] = f"<{user.role} {n} email>"
        found[user.name] = f"<{user.role} {n} name>"
    for n, salt in enumerate(session.scalars(select(Invitation.token_salt).order_by(Invitation.id))):
        found[link_token(salt)] = f"<invitation {n} token>"
    for n, session_id in enumerate(session.scalars(select(CohortSession.id).order_by(CohortSession.id))):
        found[f"ews-termin-{session_id}.ics"] = f"ews-termin-<session {n}>.ics"
    checkpoints = session.execute(
        select(AuditCheckpoint.note, AuditCheckpoint.created_at).order_by(AuditCheckpoint.id)
    )
    for n, (note, created_at) in enumerate(checkpoints):  # the root and its signature differ between runs
        found[note] = f"<checkpoint {n} note>\n"
        found[de_datetime(created_at)] = f"<checkpoint {n} time>"
    return found


def _rendered(session) -> str:
    stand_ins = _placeholders(session)
    pattern = re.compile("|".join(re.escape(v) for v in sorted(stand_ins, key=len, reverse=True)))
    letters = []
    for message in session.scalars(
        select(OutboxMessage).order_by(OutboxMessage.kind, OutboxMessage.recipient)
    ):
        recipient = re.sub(r"^(coordinator|reviewer|applicant)\d+@", r"\1<n>@", message.recipient)
        attachments = ", ".join(a["filename"] for a in message.attachments)
        headers = ", ".join(f"{k}: {v}" for k, v in sorted(message.headers.items()))
        text = (
            f"=== {message.kind} → {recipient}\nSubject: {message.subject}\nAttachments: {attachments}\n"
            f"Headers: {headers}\n\n{message.body}"
        )
        letters.append(pattern.sub(lambda m: stand_ins[m.group(0)], text))
    return "\n".join(sorted(letters))


def test_every_letter_kind_renders_as_recorded(session, factory, app, monkeypatch):
    configure_office(app.extensions["ews"].settings, monkeypatch)
    arrange(session, factory)
    text = _rendered(session)
    kinds = set(re.findall(r"^=== (\w+) ", text, flags=re.MULTILINE))
    assert kinds == KINDS - {"password_reset"}  # a reset letter is asked for, not caused by the journey
    if os.environ.get("EWS_RECORD_LETTERS"):
        RECORDING.write_text(text, encoding="utf-8")
    assert text == RECORDING.read_text(encoding="utf-8")
