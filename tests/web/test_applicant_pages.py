"""The applicant pages: my applications, the application form, the practice project, certificates."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from ews_cases.models import Case, Certificate, PracticeProject
from testkit.factories import ATTENDORN, FINNENTROP
from tests.web.helpers import csrf_token, login, post_form
from workflows import BERLIN, State

PASSWORD = "Kommune-Passwort-1"

COMPLETE = {
    "contact_name": "Eva Ehrenamt",
    "contact_email": "eva.ehrenamt@finnentrop.de",
    "contact_phone": "02721 512-0",
    "team-0-name": "Anna Acker",
    "team-0-email": "anna.acker@finnentrop.de",
    "team-0-position": "Ehrenamtskoordination",
    "team-1-name": "Ben Berg",
    "team-1-email": "ben.berg@finnentrop.de",
    "team-1-position": "Sozialplanung",
    "motivation": "Wir wollen das Ehrenamt in allen Ortsteilen stärken.",
    "starting_point": "Viele Vereine, aber keine Anlaufstelle in der Verwaltung.",
    "goals": "Eine Engagementstrategie für Finnentrop.",
    "leadership_support": "Bürgermeister Max Muster",
    "consent": "y",
}


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def cohort(session, factory):
    today = factory.now.astimezone(BERLIN).date()
    cohort = factory.cohort(title="6. Entwicklungswerkstatt", application_deadline=today + timedelta(days=12))
    session.commit()
    return cohort


@pytest.fixture
def applicant(session, factory):
    user = factory.user("applicant", FINNENTROP, password=PASSWORD)
    session.commit()
    return user


@pytest.fixture
def signed_in(client, applicant):
    login(client, applicant.email, PASSWORD)
    return client


def reload(session, case_id: int) -> Case:
    """The case as the requests committed it (the test session has its own snapshot)."""
    session.commit()
    session.expire_all()
    return session.get(Case, case_id)


def page(response) -> str:
    return response.get_data(as_text=True)


def case_of(session, cohort, ags: str = FINNENTROP) -> Case | None:
    session.commit()
    session.expire_all()
    return session.scalar(select(Case).where(Case.cohort_id == cohort.id, Case.municipality_ags == ags))


# -- my applications ---------------------------------------------------------------------------------------
def test_my_cases_lists_only_the_own_municipality_with_state_and_next_step(
    signed_in, session, factory, cohort
):
    own = factory.case(cohort, FINNENTROP, state=State.SUBMITTED)
    other = factory.case(cohort, ATTENDORN)
    session.commit()

    response = signed_in.get("/bewerbungen")
    assert response.status_code == 200
    html = page(response)
    assert own.reference in html
    assert other.reference not in html
    assert f'href="/faelle/{own.id}"' in html
    assert "Eingereicht" in html
    assert "Fachleute begutachten sie" in html


def test_my_cases_invites_to_an_open_call_with_deadline(signed_in, cohort):
    html = page(signed_in.get("/bewerbungen"))
    assert "Ihre Kommune hat noch keine Bewerbung angelegt." in html
    assert "Jetzt bewerben: 6. Entwicklungswerkstatt" in html
    assert f"/bewerbungen/neu?durchgang={cohort.number}" in html
    assert "noch 12 Tage" in html


def test_login_leads_an_applicant_to_my_cases(client, applicant):
    response = login(client, applicant.email, PASSWORD)
    assert response.headers["Location"].endswith("/bewerbungen")


# -- the application form --------------------------------------------------------------------------------
def test_form_shows_deadline_countdown_and_the_fixed_municipality(signed_in, cohort):
    response = signed_in.get(f"/bewerbungen/neu?durchgang={cohort.number}")
    assert response.status_code == 200
    html = page(response)
    deadline = cohort.application_deadline.strftime("%d.%m.%Y")
    assert f"Bewerbungsfrist: {deadline}, 23:59 Uhr" in html
    assert "noch 12 Tage" in html
    assert "Finnentrop" in html
    assert "05966012" in html
    assert 'name="municipality"' not in html  # an applicant is bound to their municipality
    assert html.count('name="team-') == 4 * cohort.team_size  # salutation, name, email, position
    for name in ("contact_name", "motivation", "starting_point", "goals", "leadership_support", "consent"):
        assert re.search(rf'<label[^>]*for="{name}"', html), name  # every field has its label
    assert "Entwurf speichern" in html
    assert "Speichern und einreichen" in html


def test_draft_then_submit(signed_in, session, cohort):
    url = f"/bewerbungen/neu?durchgang={cohort.number}"
    response = post_form(signed_in, url, {**COMPLETE, "cohort": cohort.number, "aktion": "entwurf"})
    assert response.status_code == 303
    case = case_of(session, cohort)
    assert case is not None
    assert case.state == State.DRAFT
    assert response.headers["Location"].endswith(f"/bewerbungen/{case.id}/bearbeiten")
    assert [m.name for m in case.team] == ["Anna Acker", "Ben Berg"]

    edit = signed_in.get(f"/bewerbungen/{case.id}/bearbeiten")
    html = page(edit)
    assert f"Der Entwurf {case.reference} ist gespeichert." in html
    assert f'name="version" value="{case.version}"' in html
    assert "Wir wollen das Ehrenamt in allen Ortsteilen stärken." in html

    response = signed_in.post(
        f"/bewerbungen/{case.id}/bearbeiten",
        data={**COMPLETE, "version": case.version, "aktion": "einreichen", "csrf_token": csrf_token(edit)},
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/faelle/{case.id}")
    assert reload(session, case.id).state == State.SUBMITTED
    follow = page(signed_in.get(f"/faelle/{case.id}"))
    assert f"Die Bewerbung {case.reference} ist eingereicht." in follow


def test_incomplete_submission_explains_in_german_and_keeps_what_was_typed(signed_in, session, cohort):
    typed = {
        "cohort": cohort.number,
        "contact_name": "Erika Beispiel",
        "contact_email": "erika.beispiel@finnentrop.de",
        "team-0-name": "Anna Acker",
        "motivation": "Unsere Vereine brauchen eine Anlaufstelle.",
        "aktion": "einreichen",
    }
    response = post_form(signed_in, f"/bewerbungen/neu?durchgang={cohort.number}", typed)
    assert response.status_code == 422
    html = page(response)
    assert "Ihr Entwurf ist gespeichert, kann aber noch nicht eingereicht werden" in html
    assert (
        "Nicht alle Fragen sind beantwortet: Ausgangslage, Ziele, Unterstützung der Verwaltungsspitze."
        in html
    )
    assert "Das Entwicklungsteam ist unvollständig" in html
    assert "Person 1: E-Mail fehlt" in html
    assert "Die Einwilligung in die Datenverarbeitung fehlt." in html
    assert "Bitte ergänzen Sie diese Angabe." in html
    assert re.search(r'aria-describedby="[^"]*\bgoals-fehler\b', html)  # the reason sits next to the field
    assert "Unsere Vereine brauchen eine Anlaufstelle." in html  # what was typed is still there
    assert 'value="Anna Acker"' in html

    case = case_of(session, cohort)
    assert case is not None  # the draft was saved
    assert case.state == State.DRAFT
    assert case.motivation == "Unsere Vereine brauchen eine Anlaufstelle."
    assert f'action="/bewerbungen/{case.id}/bearbeiten"' in html  # the next post edits that draft
    assert f'name="version" value="{case.version}"' in html

    # Completing it on the same page submits it.
    response = signed_in.post(
        f"/bewerbungen/{case.id}/bearbeiten",
        data={**COMPLETE, "version": case.version, "aktion": "einreichen", "csrf_token": csrf_token(html)},
    )
    assert response.status_code == 303
    assert reload(session, case.id).state == State.SUBMITTED


def test_edit_page_lists_what_is_still_missing(signed_in, session, factory, cohort):
    case = factory.case(cohort, FINNENTROP, content=None)
    session.commit()
    html = page(signed_in.get(f"/bewerbungen/{case.id}/bearbeiten"))
    assert "Vor dem Einreichen noch offen" not in html  # the factory's content is complete

    response = post_form(
        signed_in,
        f"/bewerbungen/{case.id}/bearbeiten",
        {**COMPLETE, "consent": "", "version": case.version, "aktion": "entwurf"},
    )
    assert response.status_code == 303
    html = page(signed_in.get(f"/bewerbungen/{case.id}/bearbeiten"))
    assert "Vor dem Einreichen noch offen" in html
    assert "Die Einwilligung in die Datenverarbeitung fehlt." in html


def test_invalid_email_is_shown_next_to_the_field_and_nothing_is_saved(signed_in, session, cohort):
    data = {
        **COMPLETE,
        "team-1-email": "ben.berg-at-finnentrop",
        "cohort": cohort.number,
        "aktion": "entwurf",
    }
    response = post_form(signed_in, f"/bewerbungen/neu?durchgang={cohort.number}", data)
    assert response.status_code == 422
    html = page(response)
    assert 'id="team-1-email-fehler"' in html
    assert "Bitte geben Sie eine gültige E-Mail-Adresse an." in html
    assert 'value="ben.berg-at-finnentrop"' in html
    assert case_of(session, cohort) is None


def test_a_stale_version_changes_nothing_and_says_so(signed_in, session, factory, cohort):
    case = factory.case(cohort, FINNENTROP)
    session.commit()
    old_version = case.version
    form_page = signed_in.get(f"/bewerbungen/{case.id}/bearbeiten")
    first = signed_in.post(
        f"/bewerbungen/{case.id}/bearbeiten",
        data={**COMPLETE, "version": old_version, "aktion": "entwurf", "csrf_token": csrf_token(form_page)},
    )
    assert first.status_code == 303

    second = signed_in.post(
        f"/bewerbungen/{case.id}/bearbeiten",
        data={
            **COMPLETE,
            "goals": "Ein anderer Stand",
            "version": old_version,
            "aktion": "entwurf",
            "csrf_token": csrf_token(form_page),
        },
    )
    assert second.status_code == 409
    html = page(second)
    assert "Die Bewerbung wurde inzwischen geändert" in html
    assert "Ein anderer Stand" in html  # what was typed is kept on the page
    assert reload(session, case.id).goals == COMPLETE["goals"]


def test_an_applicant_with_a_case_in_the_cohort_is_led_to_it(signed_in, session, factory, cohort):
    case = factory.case(cohort, FINNENTROP)
    session.commit()
    response = signed_in.get(f"/bewerbungen/neu?durchgang={cohort.number}")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/bewerbungen/{case.id}/bearbeiten")


def test_an_applicant_with_a_submitted_case_is_led_to_its_page_and_told_why(
    signed_in, session, factory, cohort
):
    case = factory.case(cohort, FINNENTROP, state=State.SUBMITTED)
    session.commit()
    response = signed_in.get(f"/bewerbungen/neu?durchgang={cohort.number}")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/faelle/{case.id}")
    page = signed_in.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Für Finnentrop gibt es in diesem Durchgang bereits die Bewerbung {case.reference}." in page


def test_a_submitted_case_is_no_longer_edited_here(signed_in, session, factory, cohort):
    case = factory.case(cohort, FINNENTROP, state=State.SUBMITTED)
    session.commit()
    response = signed_in.get(f"/bewerbungen/{case.id}/bearbeiten")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/faelle/{case.id}")


def test_without_an_open_call_there_is_no_form(signed_in, factory, session):
    factory.cohort(application_deadline=factory.now.date() - timedelta(days=3))
    session.commit()
    html = page(signed_in.get("/bewerbungen/neu"))
    assert "Derzeit läuft keine Bewerbungsphase." in html
    assert "Speichern und einreichen" not in html


def test_a_coordinator_finds_the_municipality_by_name_and_applies_for_it(client, session, factory, cohort):
    coordinator = factory.user("coordinator", password=PASSWORD)
    session.commit()
    login(client, coordinator.email, PASSWORD)

    html = page(client.get(f"/bewerbungen/neu?durchgang={cohort.number}&q=finnentrop"))
    assert re.search(r'type="radio" name="municipality" id="kommune-05966012" value="05966012"', html)
    assert "Finnentrop (Gemeinde, Kreis Olpe)" in html

    several = page(client.get(f"/bewerbungen/neu?durchgang={cohort.number}&q=05966"))
    assert several.count('name="municipality"') > 5  # the Kreis Olpe by AGS prefix

    url = f"/bewerbungen/neu?durchgang={cohort.number}&q=finnentrop"
    response = post_form(
        client, url, {**COMPLETE, "cohort": cohort.number, "municipality": FINNENTROP, "aktion": "entwurf"}
    )
    assert response.status_code == 303
    assert case_of(session, cohort, FINNENTROP) is not None


def test_a_coordinator_must_choose_a_municipality(client, session, factory, cohort):
    coordinator = factory.user("coordinator", password=PASSWORD)
    session.commit()
    login(client, coordinator.email, PASSWORD)
    url = f"/bewerbungen/neu?durchgang={cohort.number}"
    response = post_form(client, url, {**COMPLETE, "cohort": cohort.number, "aktion": "entwurf"})
    assert response.status_code == 422
    assert "Bitte wählen Sie eine Kommune aus." in page(response)


def test_the_applicant_cannot_apply_for_another_municipality(signed_in, session, cohort):
    url = f"/bewerbungen/neu?durchgang={cohort.number}"
    data = {**COMPLETE, "cohort": cohort.number, "municipality": ATTENDORN, "aktion": "entwurf"}
    assert post_form(signed_in, url, data).status_code == 303
    assert case_of(session, cohort, ATTENDORN) is None
    assert case_of(session, cohort, FINNENTROP) is not None


# -- access ---------------------------------------------------------------------------------------------
def test_another_municipalitys_case_is_not_found(signed_in, session, factory, cohort):
    other = factory.case(cohort, ATTENDORN)
    attending = factory.case(factory.cohort(), ATTENDORN, state=State.ATTENDING)
    session.commit()
    for url in (
        f"/bewerbungen/{other.id}/bearbeiten",
        f"/bewerbungen/{attending.id}/praxisprojekt",
        f"/faelle/{other.id}",
    ):
        assert signed_in.get(url).status_code == 404, url
    response = post_form(
        signed_in,
        f"/bewerbungen/{other.id}/bearbeiten",
        {**COMPLETE, "version": other.version, "aktion": "entwurf"},
        form_page="/bewerbungen",
    )
    assert response.status_code == 404
    assert reload(session, other.id).contact_name != COMPLETE["contact_name"]


def test_a_reviewer_may_not_open_applicant_pages(client, session, factory, cohort):
    case = factory.case(cohort, FINNENTROP, state=State.ATTENDING)
    reviewer = factory.user("reviewer", password=PASSWORD)
    session.commit()
    login(client, reviewer.email, PASSWORD)
    for url in (
        "/bewerbungen",
        "/bewerbungen/neu",
        f"/bewerbungen/{case.id}/bearbeiten",
        f"/bewerbungen/{case.id}/praxisprojekt",
        "/bewerbungen/zertifikate/EWS6-2027-001.pdf",
    ):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "Diese Seite ist für Ihre Rolle nicht freigegeben." in page(response)


def test_pages_ask_for_a_login(client):
    response = client.get("/bewerbungen/neu")
    assert response.status_code == 302
    assert "/anmelden" in response.headers["Location"]


def test_a_form_without_csrf_token_is_refused(signed_in, session, cohort):
    url = f"/bewerbungen/neu?durchgang={cohort.number}"
    response = signed_in.post(url, data={**COMPLETE, "cohort": cohort.number, "aktion": "entwurf"})
    assert response.status_code == 400
    assert case_of(session, cohort) is None


# -- practice project ---------------------------------------------------------------------------------------
@pytest.fixture
def attending(session, factory, cohort) -> Case:
    case = factory.case(cohort, FINNENTROP, state=State.ATTENDING)
    session.commit()
    return case


def project_of(session, case: Case) -> PracticeProject | None:
    session.commit()
    session.expire_all()
    return session.scalar(select(PracticeProject).where(PracticeProject.case_id == case.id))


def test_project_submission(signed_in, session, attending):
    url = f"/bewerbungen/{attending.id}/praxisprojekt"
    html = page(signed_in.get(url))
    assert "In Planung" in html
    assert "Einreichen" in html
    assert f'href="/bewerbungen/{attending.id}/praxisprojekt"' in page(signed_in.get("/bewerbungen"))

    # Without a summary it cannot be submitted; the title is kept.
    response = post_form(signed_in, url, {"title": "Engagementlotsen", "aktion": "einreichen"})
    assert response.status_code == 422
    html = page(response)
    assert "Titel und Zusammenfassung sind vor dem Einreichen nötig." in html
    assert "Ihre Angaben sind gespeichert, das Praxisprojekt ist aber noch nicht eingereicht." in html
    assert project_of(session, attending).title == "Engagementlotsen"
    assert project_of(session, attending).status == "planned"

    response = post_form(
        signed_in,
        url,
        {
            "title": "Engagementlotsen",
            "summary": "Lotsen begleiten neue Ehrenamtliche.",
            "aktion": "einreichen",
        },
    )
    assert response.status_code == 303
    project = project_of(session, attending)
    assert project.status == "submitted"
    assert project.summary == "Lotsen begleiten neue Ehrenamtliche."
    html = page(signed_in.get(url))
    assert "Das Praxisprojekt ist eingereicht." in html
    assert "Eingereicht, wartet auf Freigabe" in html
    assert 'value="einreichen"' not in html


def test_project_cannot_be_edited_before_the_programme_runs(signed_in, session, factory, cohort):
    case = factory.case(cohort, FINNENTROP, state=State.ADMITTED)
    session.commit()
    url = f"/bewerbungen/{case.id}/praxisprojekt"
    html = page(signed_in.get(url))
    assert "Das Praxisprojekt kann nur während der Teilnahme bearbeitet werden." in html
    assert "<textarea" not in html
    response = post_form(
        signed_in, url, {"title": "Zu früh", "aktion": "speichern"}, form_page="/bewerbungen"
    )
    assert response.status_code == 409
    assert project_of(session, case) is None


# -- certificates --------------------------------------------------------------------------------------------
@pytest.fixture
def certified(session, factory, cohort) -> Case:
    factory.workshop(cohort)
    case = factory.case(cohort, FINNENTROP, state=State.CERTIFIED)
    session.commit()
    return case


def test_certificate_download(signed_in, session, certified):
    certificates = session.scalars(select(Certificate).where(Certificate.case_id == certified.id)).all()
    assert certificates
    html = page(signed_in.get("/bewerbungen"))
    for certificate in certificates:
        url = f"/bewerbungen/zertifikate/{certificate.serial}.pdf"
        assert f'href="{url}"' in html
        response = signed_in.get(url)
        assert response.status_code == 200
        assert response.mimetype == "application/pdf"
        assert response.data.startswith(b"%PDF")
        assert f"{certificate.serial}.pdf" in response.headers["Content-Disposition"]
    assert signed_in.get("/bewerbungen/zertifikate/EWS99-2000-001.pdf").status_code == 404


def test_certificates_of_another_municipality_are_not_found(client, session, factory, certified):
    neighbour = factory.user("applicant", ATTENDORN, password=PASSWORD)
    session.commit()
    login(client, neighbour.email, PASSWORD)
    serial = session.scalars(select(Certificate.serial).where(Certificate.case_id == certified.id)).first()
    assert client.get(f"/bewerbungen/zertifikate/{serial}.pdf").status_code == 404
