"""The programme office pages (`/programm`): dashboard, case list, attendance, project, certificates,
cohorts and sessions, email outbox — driven through the Flask test client with a logged-in coordinator."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from html import unescape

import pytest
from sqlalchemy import func, select

from ews_cases.models import (
    Attendance,
    AuditEvent,
    Case,
    Certificate,
    Cohort,
    CohortSession,
    OutboxMessage,
    PracticeProject,
    ReminderSent,
)
from ews_cases.services.eligibility import eligible_members
from ews_cases.services.participation import update_project
from testkit.factories import ATTENDORN, BONN, DUESSELDORF, FINNENTROP, OLPE_KREIS
from tests.web.helpers import login, post_form
from workflows import BERLIN, State

PASSWORD = "richtig-geheim-2027"


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def office(client, session, factory):
    """The test client, logged in as a coordinator."""
    user = factory.user("coordinator", password=PASSWORD)
    session.commit()
    login(client, user.email, PASSWORD)
    return client


def text_of(response) -> str:
    """The page as text: tags removed, entities decoded, whitespace collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())


def fresh(session):
    """End the test session's snapshot and forget loaded rows, so it sees what the requests committed."""
    session.commit()
    session.expire_all()  # the sessions do not expire on commit
    return session


def audit_count(session, action: str) -> int:
    query = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    return fresh(session).scalar(query)


# -- dashboard and case list ----------------------------------------------------------------------------------
@pytest.fixture
def busy_cohort(session, factory) -> Cohort:
    """Capacity 3: one admitted, one attending, one reviewed and one submitted case; a reminder and a failure."""
    cohort = factory.cohort(title="7. Entwicklungswerkstatt", capacity=3)
    factory.workshop(cohort)
    factory.case(cohort, FINNENTROP, state=State.ADMITTED)
    factory.case(cohort, ATTENDORN, state=State.ATTENDING)
    factory.case(cohort, DUESSELDORF, state=State.REVIEWED)
    factory.case(cohort, BONN, state=State.SUBMITTED)
    session.add(
        ReminderSent(
            cohort_id=cohort.id,
            recipient="buergermeister@example.org",
            offset_days=14,
            municipality_ags=OLPE_KREIS,
            outbox_key="reminder-test",
        )
    )
    session.add(
        OutboxMessage(
            dedup_key="failed-test",
            message_id="<failed-test@ews.test>",
            kind="test",
            recipient="nirgendwo@example.org",
            subject="Unzustellbar",
            body="…",
            status="failed",
            attempts=8,
            last_error="550 mailbox unavailable",
        )
    )
    session.commit()
    return cohort


def figure(page: str, name: str) -> str:
    match = re.search(rf'data-figure="{name}">([^<]*)<', page)
    assert match, name
    return match.group(1).strip()


def count_of(page: str, state: str) -> int:
    match = re.search(rf'data-count="{state}">(\d+)<', page)
    assert match, state
    return int(match.group(1))


def test_dashboard_shows_counts_places_left_countdown_and_failures(office, session, factory, busy_cohort):
    response = office.get(f"/programm?durchgang={busy_cohort.number}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "7. Entwicklungswerkstatt" in page
    assert {s: count_of(page, s) for s in ("admitted", "attending", "reviewed", "submitted", "draft")} == {
        "admitted": 1,
        "attending": 1,
        "reviewed": 1,
        "submitted": 1,
        "draft": 0,
    }
    assert figure(page, "places-left") == "1"  # 3 − admitted − attending
    today = factory.now.astimezone(BERLIN).date()
    assert figure(page, "countdown") == f"Noch {(busy_cohort.application_deadline - today).days} Tage"
    assert figure(page, "reminders") == "1"
    assert figure(page, "failed") == "1"
    assert "/programm/e-mails?status=failed" in page
    # Each count links to the filtered case list.
    assert f"/programm/bewerbungen?durchgang={busy_cohort.number}&amp;status=admitted" in page
    # Admission: the reviewed case with its average score (4+3+5+4+3)/5 and a link to its case page.
    reviewed = fresh(session).scalar(select(Case).where(Case.state == "reviewed"))
    assert re.search(rf'data-score="{reviewed.reference}">3,8<', page)
    assert f'href="/faelle/{reviewed.id}"' in page
    # The sessions of the cohort.
    assert "Workshop" in text_of(response)


def test_dashboard_defaults_to_the_newest_cohort_and_says_when_the_call_has_closed(office, session, factory):
    factory.cohort(number=401, title="Älterer Durchgang")
    yesterday = factory.now.astimezone(BERLIN).date() - timedelta(days=1)
    factory.cohort(
        number=402,
        title="Neuester Durchgang",
        applications_open_at=factory.now - timedelta(days=60),
        application_deadline=yesterday,
    )
    session.commit()
    page = office.get("/programm").get_data(as_text=True)
    assert "Neuester Durchgang" in page
    assert figure(page, "countdown") == "Bewerbungsfrist abgelaufen"
    assert figure(page, "places-left") == "10"
    assert office.get("/programm?durchgang=401").status_code == 200
    assert office.get("/programm?durchgang=999").status_code == 404


def test_case_list_filters_by_cohort_state_and_search(office, session, busy_cohort):
    admitted = fresh(session).scalar(select(Case).where(Case.state == "admitted"))
    response = office.get(f"/programm/bewerbungen?durchgang={busy_cohort.number}&status=admitted")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert admitted.reference in page
    assert f'href="/faelle/{admitted.id}"' in page
    assert "Finnentrop" in page
    assert "Attendorn" not in page

    page = office.get("/programm/bewerbungen?q=attend").get_data(as_text=True)
    assert "Attendorn" in page
    assert "Finnentrop" not in page
    assert "/anwesenheit" in page  # an attending case links to its register

    page = office.get("/programm/bewerbungen?status=certified").get_data(as_text=True)
    assert "Keine Bewerbungen gefunden." in page


# -- attendance -----------------------------------------------------------------------------------------------
@pytest.fixture
def attending(session, factory) -> Case:
    """An attending case of a cohort with two workshops and a Fachtagung (which does not count)."""
    cohort = factory.cohort()
    factory.workshop(cohort, kind="fachtagung")
    factory.workshop(cohort, cohort.starts_on + timedelta(days=7))
    factory.workshop(cohort, cohort.starts_on + timedelta(days=14))
    case = factory.case(cohort, FINNENTROP, state=State.ATTENDING)
    session.commit()
    return case


def workshops_of(session, case: Case) -> list[CohortSession]:
    query = select(CohortSession).where(
        CohortSession.cohort_id == case.cohort_id, CohortSession.kind == "workshop"
    )
    return list(session.scalars(query.order_by(CohortSession.starts_at)))


def test_attendance_grid_saves_changed_cells_and_changes_eligibility(office, session, attending):
    url = f"/programm/faelle/{attending.id}/anwesenheit"
    first, second = attending.team
    w1, w2 = workshops_of(session, attending)
    page = office.get(url).get_data(as_text=True)
    assert f'name="cell-{first.id}-{w1.id}"' in page
    assert f'<label class="visually-hidden" for="cell-{first.id}-{w1.id}">' in page
    assert re.search(rf'data-eligible="{first.id}">nein<', page)

    response = post_form(
        office,
        url,
        {
            f"cell-{first.id}-{w1.id}": "present",
            f"cell-{first.id}-{w2.id}": "present",
            f"cell-{second.id}-{w1.id}": "present",
            f"cell-{second.id}-{w2.id}": "excused",
        },
    )
    assert response.status_code == 303
    page = office.get(url).get_data(as_text=True)
    assert "Anwesenheit gespeichert (4 Änderungen)." in page
    assert re.search(rf'data-share="{first.id}">100 %<', page)
    assert re.search(rf'data-share="{second.id}">50 %<', page)
    assert re.search(rf'data-eligible="{first.id}"><strong>ja<', page)
    assert re.search(rf'data-eligible="{second.id}">nein<', page)
    assert [m.id for m in eligible_members(fresh(session), attending)] == [first.id]
    assert audit_count(session, "attendance.recorded") == 4

    # Only changed cells are saved: one more cell changes, one more audit event.
    response = post_form(
        office,
        url,
        {
            f"cell-{first.id}-{w1.id}": "present",
            f"cell-{first.id}-{w2.id}": "present",
            f"cell-{second.id}-{w1.id}": "present",
            f"cell-{second.id}-{w2.id}": "present",
        },
    )
    assert response.status_code == 303
    assert audit_count(session, "attendance.recorded") == 5
    assert {m.id for m in eligible_members(fresh(session), attending)} == {first.id, second.id}


def test_attendance_grid_saves_all_cells_or_none(office, session, attending):
    url = f"/programm/faelle/{attending.id}/anwesenheit"
    first, second = attending.team
    w1, w2 = workshops_of(session, attending)
    response = post_form(
        office,
        url,
        {f"cell-{first.id}-{w1.id}": "present", f"cell-{second.id}-{w2.id}": "vielleicht"},
    )
    assert response.status_code == 422
    assert "Erlaubt sind present, excused und absent." in text_of(response)
    assert fresh(session).scalar(select(func.count()).select_from(Attendance)) == 0


def test_attendance_is_read_only_outside_participation(office, session, factory):
    cohort = factory.cohort()
    factory.workshop(cohort)
    case = factory.case(cohort, FINNENTROP, state=State.ADMITTED)
    session.commit()
    page = office.get(f"/programm/faelle/{case.id}/anwesenheit").get_data(as_text=True)
    assert "Anwesenheit wird nur während der Teilnahme erfasst" in page
    assert "<select" not in page.split("<main", 1)[1]


# -- practice project -----------------------------------------------------------------------------------------
def submit_project(session, factory, case: Case) -> None:
    update_project(
        session,
        case,
        factory.coordinator(),
        title="Engagementlotsen",
        summary="Ein Lotsenprogramm.",
        status="submitted",
    )
    session.commit()


def project_of(session, case: Case) -> PracticeProject:
    return fresh(session).scalar(select(PracticeProject).where(PracticeProject.case_id == case.id))


def test_project_is_returned_only_with_a_reason_and_then_approved(office, session, factory, attending):
    submit_project(session, factory, attending)
    url = f"/programm/faelle/{attending.id}/praxisprojekt"
    page = office.get(url).get_data(as_text=True)
    assert "Engagementlotsen" in page
    assert "Praxisprojekt freigeben" in page

    response = post_form(office, url, {"decision": "return", "reason": "  "})
    assert response.status_code == 422
    assert "Bitte begründen Sie die Rückgabe." in text_of(response)
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    assert project_of(session, attending).status == "submitted"

    response = post_form(office, url, {"decision": "return", "reason": "Bitte den Bericht ergänzen."})
    assert response.status_code == 303
    project = project_of(session, attending)
    assert (project.status, project.return_reason) == ("planned", "Bitte den Bericht ergänzen.")
    assert "Das Team hat das Praxisprojekt noch nicht eingereicht." in text_of(office.get(url))

    submit_project(session, factory, attending)
    response = post_form(office, url, {"decision": "approve"})
    assert response.status_code == 303
    assert project_of(session, attending).status == "approved"
    assert "Praxisprojekt freigegeben." in text_of(office.get(url))
    assert audit_count(session, "project.updated") == 4  # submit, return, submit, approve


def test_approving_a_project_that_is_not_submitted_is_refused_with_the_reason(office, session, attending):
    url = f"/programm/faelle/{attending.id}/praxisprojekt"
    response = post_form(office, url, {"decision": "approve"})
    assert response.status_code == 303
    assert "kann nicht von planned auf approved wechseln" in text_of(office.get(url))
    assert project_of(session, attending) is None


# -- certificates ---------------------------------------------------------------------------------------------
@pytest.fixture
def certified(session, factory) -> Case:
    cohort = factory.cohort()
    factory.workshop(cohort)
    case = factory.case(cohort, FINNENTROP, state=State.CERTIFIED)
    session.commit()
    return case


def certificates_of(session, case: Case) -> list[Certificate]:
    query = select(Certificate).where(Certificate.case_id == case.id).order_by(Certificate.serial)
    return list(fresh(session).scalars(query))


def test_certificate_list_shows_serials_holders_and_verification_links(office, session, certified):
    first, second = certificates_of(session, certified)
    response = office.get(f"/programm/faelle/{certified.id}/zertifikate")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for certificate in (first, second):
        assert certificate.serial in page
        assert certificate.holder_name in page
        assert f'href="http://ews.test/verify/{certificate.verification_code}"' in page
    assert certificate.issued_at.astimezone(BERLIN).strftime("%d.%m.%Y") in page


def test_the_certificate_list_links_each_pdf_and_a_revocation_in_danger_style(office, session, certified):
    first, second = certificates_of(session, certified)
    page = office.get(f"/programm/faelle/{certified.id}/zertifikate").get_data(as_text=True)
    for certificate in (first, second):
        assert f'href="/bewerbungen/zertifikate/{certificate.serial}.pdf"' in page
        assert re.search(
            rf'class="btn btn-outline-danger btn-sm" data-revoke="{certificate.serial}"\s*'
            rf'href="/programm/faelle/{certified.id}/zertifikate/{certificate.id}/widerrufen"',
            page,
        )
    assert "<textarea" not in page  # the reason is asked on the confirmation page
    assert office.get(f"/bewerbungen/zertifikate/{first.serial}.pdf").data.startswith(b"%PDF")


def test_revoking_a_certificate_is_confirmed_with_a_reason(office, session, certified):
    first, _second = certificates_of(session, certified)
    url = f"/programm/faelle/{certified.id}/zertifikate"
    confirm = f"{url}/{first.id}/widerrufen"
    response = office.get(confirm)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    text = text_of(response)
    assert f"Das Zertifikat {first.serial} von {first.holder_name}" in text
    assert "Der Widerruf ist endgültig und kann nicht rückgängig gemacht werden." in text
    assert "Niemand: Es wird keine E-Mail versandt." in text
    assert 'class="btn btn-danger" type="submit" data-confirm="revoke"' in html

    # Without the confirmation nothing changes: the confirmation page is shown.
    response = post_form(office, url, {"certificate": first.id, "reason": "Tippfehler"}, form_page=confirm)
    assert response.status_code == 200
    assert "Der Widerruf ist endgültig" in text_of(response)
    assert certificates_of(session, certified)[0].revoked_at is None

    confirmed = {"certificate": first.id, "confirmed": "ja"}
    response = post_form(office, url, {**confirmed, "reason": ""}, form_page=confirm)
    assert response.status_code == 422
    assert "Bitte begründen Sie den Widerruf." in text_of(response)
    assert certificates_of(session, certified)[0].revoked_at is None

    response = post_form(office, url, {**confirmed, "reason": "Name falsch geschrieben"}, form_page=confirm)
    assert response.status_code == 303
    revoked, untouched = certificates_of(session, certified)
    assert revoked.revoked_reason == "Name falsch geschrieben"
    assert revoked.revoked_at is not None
    assert untouched.revoked_at is None
    page = text_of(office.get(url))
    assert (
        f"Das Zertifikat {first.serial} von {first.holder_name} wurde widerrufen. Die Prüfseite weist es "
        "jetzt als ungültig aus." in page
    )
    assert "Name falsch geschrieben" in page
    assert audit_count(session, "certificate.revoked") == 1

    # A second revocation is refused with the service's words; its confirmation page is not offered.
    post_form(office, url, {**confirmed, "reason": "nochmal"}, form_page=url)
    assert "ist bereits widerrufen" in text_of(office.get(url))
    response = office.get(confirm)
    assert response.status_code == 303
    assert "ist bereits widerrufen" in text_of(office.get(response.headers["Location"]))


def test_a_certificate_of_another_case_is_not_found(office, session, factory, certified):
    other = factory.case(factory.cohort(), ATTENDORN, state=State.ATTENDING)
    session.commit()
    certificate = certificates_of(session, certified)[0]
    response = post_form(
        office, f"/programm/faelle/{other.id}/zertifikate", {"certificate": certificate.id, "reason": "x"}
    )
    assert response.status_code == 404
    assert certificates_of(session, certified)[0].revoked_at is None


# -- cohorts and sessions -------------------------------------------------------------------------------------
def cohort_form(cohort: Cohort, **changes: object) -> dict[str, object]:
    """What the edit form sends when nothing is changed, with `changes` typed in."""

    def day(value: date | None) -> str:
        return value.strftime("%d.%m.%Y") if value else ""

    opens = cohort.applications_open_at
    data = {
        "title": cohort.title,
        "region": cohort.region or "",
        "applications_open_at": opens.astimezone(BERLIN).strftime("%Y-%m-%dT%H:%M") if opens else "",
        "application_deadline": day(cohort.application_deadline),
        "capacity": cohort.capacity,
        "team_size": cohort.team_size,
        "starts_on": day(cohort.starts_on),
        "ends_on": day(cohort.ends_on),
        "reminder_days": ", ".join(str(d) for d in cohort.reminder_days),
        "min_attendance": "0,75",
        "required_reviews": cohort.required_reviews,
        "ceremony_on": day(cohort.ceremony_on),
        "ceremony_place": cohort.ceremony_place or "",
        "signatory_name": cohort.signatory_name or "",
        "signatory_title": cohort.signatory_title or "",
        "funding_eur": "",
    }
    return {**data, **changes}


def test_cohort_edit_shows_the_services_errors_in_german_and_keeps_the_values(office, session, factory):
    cohort = factory.cohort(number=501, title="Fünfter Versuch")
    session.commit()
    url = "/programm/durchgaenge/501/bearbeiten"
    assert office.get(url).status_code == 200
    data = cohort_form(
        cohort,
        title="Geänderter Titel",
        region="Atlantis",
        capacity=0,
        ends_on=(cohort.starts_on - timedelta(days=1)).strftime("%d.%m.%Y"),
    )
    response = post_form(office, url, data)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    text = text_of(response)
    assert "Unbekannter Regierungsbezirk" in text
    assert "Erlaubt sind Werte von 1 bis 1000." in text
    assert "Das Ende liegt vor dem Beginn." in text
    assert 'value="Geänderter Titel"' in page  # what was typed is still there
    assert re.search(r'id="capacity"[^>]*value="0"', page) or re.search(r'value="0"[^>]*id="capacity"', page)
    assert fresh(session).scalar(select(Cohort.title).where(Cohort.number == 501)) == "Fünfter Versuch"
    assert audit_count(session, "cohort.updated") == 0

    # A field the form itself cannot read gets a German message too.
    response = post_form(
        office, url, cohort_form(cohort, application_deadline="31.02.2027", reminder_days="bald")
    )
    assert response.status_code == 422
    text = text_of(response)
    assert "Bitte ein Datum angeben, z. B. 30.06.2027." in text
    assert "Bitte ganze Tage durch Kommas getrennt angeben" in text


def test_closing_the_call_early_changes_only_the_deadline(office, session, factory):
    cohort = factory.cohort(number=502)
    session.commit()
    yesterday = factory.now.astimezone(BERLIN).date() - timedelta(days=1)
    response = post_form(
        office,
        "/programm/durchgaenge/502/bearbeiten",
        cohort_form(cohort, application_deadline=yesterday.strftime("%d.%m.%Y")),
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/programm?durchgang=502")
    assert fresh(session).scalar(select(Cohort.application_deadline).where(Cohort.number == 502)) == yesterday
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "cohort.updated")).one()
    assert list(event.data["changes"]) == ["application_deadline"]
    page = office.get("/programm?durchgang=502").get_data(as_text=True)
    assert "Durchgang 502 gespeichert." in page
    assert figure(page, "countdown") == "Bewerbungsfrist abgelaufen"


def test_a_new_cohort_is_created_with_defaults_and_a_duplicate_number_is_refused(office, session, factory):
    page = office.get("/programm/durchgaenge/neu").get_data(as_text=True)
    assert 'value="14, 7, 3, 1"' in page
    data = {
        "number": 601,
        "title": "601. Entwicklungswerkstatt",
        "region": "Arnsberg",
        "applications_open_at": "01.03.2027 00:00",
        "application_deadline": "30.06.2027",
        "capacity": 10,
        "team_size": 2,
        "starts_on": "2027-09-01",
        "ends_on": "2028-12-31",
        "reminder_days": "14, 7, 3, 1",
        "min_attendance": "0,75",
        "required_reviews": 2,
        "ceremony_place": "Düsseldorf",
        "funding_eur": "130000,00",
    }
    response = post_form(office, "/programm/durchgaenge/neu", data)
    assert response.status_code == 303, text_of(response)
    cohort = fresh(session).scalar(select(Cohort).where(Cohort.number == 601))
    assert (cohort.region, cohort.application_deadline, cohort.reminder_days) == (
        "Arnsberg",
        date(2027, 6, 30),
        [14, 7, 3, 1],
    )
    assert cohort.applications_open_at == datetime(2027, 2, 28, 23, 0, tzinfo=UTC)  # 00:00 in Berlin (CET)
    assert str(cohort.funding_eur) == "130000.00"

    response = post_form(office, "/programm/durchgaenge/neu", {**data, "title": "Doppelt"})
    assert response.status_code == 422
    assert "Den Durchgang 601 gibt es bereits." in text_of(response)
    assert 'value="Doppelt"' in response.get_data(as_text=True)


def test_a_session_is_added_in_berlin_time_and_checked_by_the_service(office, session, factory):
    cohort = factory.cohort(number=701)
    session.commit()
    url = "/programm/durchgaenge/701/termine/neu"
    assert office.get(url).status_code == 200
    data = {
        "kind": "workshop",
        "title": "Workshop 1",
        "starts_at": "2027-09-15T10:00",
        "ends_at": "2027-09-15T09:00",
        "location": "Köln",
    }
    response = post_form(office, url, data)
    assert response.status_code == 422
    assert "Das Ende muss nach dem Beginn liegen." in text_of(response)
    assert 'value="Workshop 1"' in response.get_data(as_text=True)

    response = post_form(office, url, {**data, "ends_at": "15.09.2027 16:00"})
    assert response.status_code == 303
    event = fresh(session).scalar(select(CohortSession).where(CohortSession.cohort_id == cohort.id))
    assert event.starts_at == datetime(2027, 9, 15, 8, 0, tzinfo=UTC)
    assert event.ends_at == datetime(2027, 9, 15, 14, 0, tzinfo=UTC)
    assert "15.09.2027, 10:00 Uhr" in office.get("/programm?durchgang=701").get_data(as_text=True)
    assert office.get("/programm/durchgaenge/999/termine/neu").status_code == 404


# -- outbox ---------------------------------------------------------------------------------------------------
def test_outbox_lists_failed_messages_with_attempts_and_last_error(office, session, busy_cohort):
    response = office.get("/programm/e-mails?status=failed")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "nirgendwo@example.org" in page
    assert "550 mailbox unavailable" in page
    assert re.search(r'data-status="failed"', page)
    assert 'data-status="pending"' not in page
    everything = office.get("/programm/e-mails").get_data(as_text=True)
    assert 'data-status="pending"' in everything  # the transitions' emails, waiting for the worker


# -- who may open the office pages ----------------------------------------------------------------------------
OFFICE_PAGES = [
    "/programm",
    "/programm/bewerbungen",
    "/programm/e-mails",
    "/programm/durchgaenge/neu",
    "/programm/durchgaenge/{number}/bearbeiten",
    "/programm/durchgaenge/{number}/termine/neu",
    "/programm/durchgaenge/{number}/termine/{session}",
    "/programm/faelle/{case}/anwesenheit",
    "/programm/faelle/{case}/praxisprojekt",
    "/programm/faelle/{case}/zertifikate",
    "/programm/faelle/{case}/zertifikate/1/widerrufen",
]


@pytest.mark.parametrize("role", ["applicant", "auditor", "reviewer"])
def test_other_roles_are_refused_on_every_office_page(client, session, factory, attending, role):
    user = factory.user(role, FINNENTROP if role == "applicant" else None, password=PASSWORD)
    session.commit()
    login(client, user.email, PASSWORD)
    first, _second = attending.team
    workshop = workshops_of(session, attending)[0]
    for template in OFFICE_PAGES:
        url = template.format(number=attending.cohort.number, case=attending.id, session=workshop.id)
        assert client.get(url).status_code == 403, url
    number = attending.cohort.number
    for url, data in (
        (f"/programm/durchgaenge/{number}/termine/{workshop.id}", {"location": "gekapert"}),
        (f"/programm/durchgaenge/{number}/termine/{workshop.id}/absagen", {"reason": "gekapert"}),
        (f"/programm/faelle/{attending.id}/anwesenheit", {f"cell-{first.id}-{workshop.id}": "present"}),
        (f"/programm/faelle/{attending.id}/praxisprojekt", {"decision": "approve"}),
        (f"/programm/durchgaenge/{attending.cohort.number}/bearbeiten", {"title": "gekapert"}),
    ):
        assert post_form(client, url, data).status_code == 403, url
    assert fresh(session).scalar(select(func.count()).select_from(Attendance)) == 0


def test_anonymous_visitors_are_sent_to_the_login(client):
    response = client.get("/programm")
    assert response.status_code == 302
    assert "/anmelden" in response.headers["Location"]
