"""The office's data-protection page (issue 17): access requests, erasure requests with a preview of what is
kept and why and a required confirmation, legal holds on the case page, and case pages after erasure."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from ews_cases.i18n.formatting import de_date
from ews_cases.models import AuditEvent, Case, TeamMember
from ews_cases.services.privacy import erase_case
from testkit.factories import ATTENDORN, FINNENTROP, complete_content
from tests.web.helpers import csrf_token, login
from workflows import State

PASSWORD = "Richtig-Passwort-2025"
TAG = "Wdz"
ADDRESS = f"person1{TAG}@example.org".lower()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def two_cases(session, factory):
    """ADDRESS is a team member of a certified case (kept 10 years) and of a withdrawn one (erasable)."""
    content = complete_content(2, TAG)
    certified = factory.case(factory.cohort(), content=content, state=State.CERTIFIED)
    withdrawn = factory.case(factory.cohort(), ATTENDORN, content=content, state=State.WITHDRAWN)
    session.commit()
    return certified, withdrawn


def events(session) -> int:
    session.rollback()  # a fresh snapshot: the requests committed in their own sessions
    return session.scalar(select(func.count()).select_from(AuditEvent))


def office(client, factory) -> str:
    user = factory.user("coordinator", password=PASSWORD)
    factory.session.commit()
    login(client, user.email, PASSWORD)
    return csrf_token(client.get("/programm/datenschutz"))


@pytest.mark.parametrize("role", ["auditor", "applicant", "reviewer", "admin"])
def test_only_the_programme_office_answers_requests(client, session, factory, two_cases, role):
    certified, _ = two_cases
    user = factory.user(role, FINNENTROP if role == "applicant" else None, password=PASSWORD)
    session.commit()
    login(client, user.email, PASSWORD)
    assert client.get("/programm/datenschutz").status_code == 403
    assert client.get(f"/programm/faelle/{certified.id}/aufbewahrungssperre").status_code == 403
    token = csrf_token(client.get("/passwort"))
    before = events(session)
    for url, data in [
        ("/programm/datenschutz/auskunft", {"auskunft-email": ADDRESS}),
        ("/programm/datenschutz/loeschung", {"loeschung-email": ADDRESS, "loeschung-confirmed": "ja"}),
        (f"/programm/faelle/{certified.id}/aufbewahrungssperre", {"reason": "Fremd"}),
    ]:
        assert client.post(url, data={**data, "csrf_token": token}).status_code == 403
    assert events(session) == before
    assert session.scalar(select(func.count()).where(func.lower(TeamMember.email) == ADDRESS)) == 2


def test_the_office_downloads_the_access_export(client, session, factory, two_cases):
    certified, withdrawn = two_cases
    token = office(client, factory)
    response = client.post(
        "/programm/datenschutz/auskunft", data={"csrf_token": token, "auskunft-email": ADDRESS.upper()}
    )
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=auskunft-")
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        data = json.loads(archive.read("auskunft.json"))
        assert "Auskunft nach Art. 15 DSGVO" in archive.read("auskunft.html").decode()
    assert {c["reference"] for c in data["cases"]} == {certified.reference, withdrawn.reference}
    session.rollback()  # a fresh snapshot: the requests committed in their own sessions
    last = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert last.action == "privacy.exported"
    bad = client.post("/programm/datenschutz/auskunft", data={"csrf_token": token, "auskunft-email": "x"})
    assert bad.status_code == 422
    assert "Bitte geben Sie eine gültige E-Mail-Adresse an." in bad.get_data(as_text=True)


def test_the_erasure_preview_says_what_is_kept_and_why_and_changes_nothing(
    client, session, factory, two_cases
):
    certified, withdrawn = two_cases
    token = office(client, factory)
    before = events(session)
    preview = client.post(
        "/programm/datenschutz/loeschung", data={"csrf_token": token, "loeschung-email": ADDRESS}
    )
    assert preview.status_code == 200
    page = preview.get_data(as_text=True)
    until = de_date(certified.cohort.ends_on + timedelta(days=round(10 * 365.25)))
    assert "Bitte bestätigen" in page
    assert "Was aufbewahrt wird und warum" in page
    assert (
        f"{certified.reference} (Teammitglied, E-Mails und Zertifikate dazu): Aufbewahrung für Prüfungen der "
        f"Fördermittel (10 Jahre nach Ende des Durchgangs), bis {until}."
    ) in page
    assert f"Teammitglied in {withdrawn.reference}: Anrede, Name, E-Mail-Adresse" in page
    assert "Die Löschung ist endgültig" in page
    assert 'class="btn btn-danger"' in page
    assert 'name="loeschung-confirmed" value="ja"' in page
    # The preview alone erases nothing and records nothing.
    assert events(session) == before
    assert session.scalar(select(func.count()).where(func.lower(TeamMember.email) == ADDRESS)) == 2

    done = client.post(
        "/programm/datenschutz/loeschung",
        data={
            "csrf_token": token,
            "loeschung-email": ADDRESS,
            "loeschung-confirmed": "ja",
            "loeschung-reason": "Antrag vom 02.01.2027",
        },
    )
    assert done.status_code == 303
    followed = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Gelöscht:" in followed
    assert f"Aufbewahrt: {certified.reference} (Teammitglied" in followed
    session.rollback()  # a fresh snapshot: the requests committed in their own sessions
    emails = {c.reference: {m.email.lower() for m in c.team} for c in session.scalars(select(Case))}
    assert ADDRESS in emails[certified.reference]
    assert ADDRESS not in emails[withdrawn.reference]
    assert events(session) == before + 1


def test_an_erasure_request_without_an_address_is_refused_in_german(client, session, factory, two_cases):
    token = office(client, factory)
    before = events(session)
    refused = client.post(
        "/programm/datenschutz/loeschung",
        data={"csrf_token": token, "loeschung-email": "", "loeschung-confirmed": "ja"},
    )
    assert refused.status_code == 422
    assert "Bitte geben Sie eine gültige E-Mail-Adresse an." in refused.get_data(as_text=True)
    assert events(session) == before


def test_the_office_sets_and_lifts_a_legal_hold_on_the_case_page(client, session, factory, two_cases):
    _, withdrawn = two_cases
    office(client, factory)
    case_page = client.get(f"/faelle/{withdrawn.id}").get_data(as_text=True)
    assert "Aufbewahrungssperre setzen" in case_page
    url = f"/programm/faelle/{withdrawn.id}/aufbewahrungssperre"
    form = client.get(url)
    assert "Für diese Bewerbung besteht keine Aufbewahrungssperre." in form.get_data(as_text=True)
    token = csrf_token(form)
    before = events(session)
    empty = client.post(url, data={"csrf_token": token, "reason": " "})
    assert empty.status_code == 422
    assert "Bitte begründen Sie die Aufbewahrungssperre." in empty.get_data(as_text=True)
    assert events(session) == before
    assert client.post(url, data={"csrf_token": token, "reason": "Klage anhängig"}).status_code == 303
    page = client.get(f"/faelle/{withdrawn.id}").get_data(as_text=True)
    assert "Die Aufbewahrungssperre ist gesetzt." in page
    assert "Klage anhängig" in page
    # The preview now keeps the withdrawn case too, because of the hold.
    preview = client.post(
        "/programm/datenschutz/loeschung", data={"csrf_token": token, "loeschung-email": ADDRESS}
    ).get_data(as_text=True)
    assert (
        f"{withdrawn.reference} (Teammitglied, E-Mails und Zertifikate dazu): Aufbewahrungssperre" in preview
    )
    assert "Klage anhängig" in client.get("/programm/datenschutz").get_data(as_text=True)
    assert client.post(url, data={"csrf_token": token, "reason": "Verfahren beendet"}).status_code == 303
    session.rollback()  # a fresh snapshot: the requests committed in their own sessions
    assert session.get(Case, withdrawn.id).legal_hold_at is None
    assert events(session) == before + 2


@pytest.mark.parametrize("role", ["coordinator", "applicant"])
def test_case_pages_say_when_and_why_fields_were_erased(client, session, factory, two_cases, role):
    certified, _ = two_cases
    erase_case(session, certified, factory.coordinator())
    user = factory.user(role, FINNENTROP if role == "applicant" else None, password=PASSWORD)
    session.commit()
    login(client, user.email, PASSWORD)
    response = client.get(f"/faelle/{certified.id}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    note = f"gelöscht am {de_date(session.get(Case, certified.id).personal_data_erased_at)} (Löschantrag)"
    assert "Die personenbezogenen Daten dieser Bewerbung sind gelöscht:" in page
    assert page.count(note) >= 5  # contact, answers, team members, certificates
    assert f"Person 1{TAG}" not in page
