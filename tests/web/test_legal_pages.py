"""The legal pages (`/impressum`, `/datenschutz`, `/barrierefreiheit`), the barrier report form and the public
verification page, through the Flask test client: the operator's settings and files show, the form refuses
without its CSRF token and in German, queues one letter to the programme office and is limited per client
address; a revoked certificate shows the day of revocation, never its reason."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from ews_cases.audit.queries import resolved_data
from ews_cases.models import AuditEvent, Certificate, OutboxMessage
from ews_cases.services.certificates import revoke_certificate
from testkit.factories import FINNENTROP
from tests.mail.test_letter_texts import configure_office
from tests.web.helpers import csrf_token
from workflows import BERLIN, State

REPORT = {
    "description": "Der Knopf „Senden“ ist mit der Tastatur nicht erreichbar.",
    "page": "/bewerbungen/neu",
    "name": "Rita Rückmeldung",
    "email": "rita@example.org",
}


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def office(app, monkeypatch):
    settings = app.extensions["ews"].settings
    configure_office(settings, monkeypatch)
    return settings


def report(client, data, address):
    environ = {"REMOTE_ADDR": address}
    token = csrf_token(client.get("/barrierefreiheit/rueckmeldung", environ_base=environ))
    return client.post(
        "/barrierefreiheit/rueckmeldung", data={**data, "csrf_token": token}, environ_base=environ
    )


def test_the_pages_show_the_configured_facts_and_the_operators_files(client, office, monkeypatch, tmp_path):
    monkeypatch.setattr(office, "legal_body", "Staatskanzlei des Landes Nordrhein-Westfalen")
    monkeypatch.setattr(office, "data_protection_officer", "Dora Datenschutz, datenschutz@stk.nrw.example")
    monkeypatch.setattr(office, "accessibility_statement_date", date(2026, 5, 4))
    monkeypatch.setattr(office, "retention_unsuccessful_case_months", 18)
    monkeypatch.setattr(office, "supervisory_authority_url", "https://aufsicht.nrw.example/")
    monkeypatch.setattr(office, "ombudsstelle_url", "https://ombudsstelle.nrw.example/")
    imprint = client.get("/impressum").get_data(as_text=True)
    assert "Staatskanzlei des Landes Nordrhein-Westfalen" in imprint
    assert "Horionplatz 1, 40213 Düsseldorf" in imprint
    assert "0211 837-0000" in imprint
    privacy = client.get("/datenschutz").get_data(as_text=True)
    assert "Dora Datenschutz, datenschutz@stk.nrw.example" in privacy
    assert "18 Monaten" in privacy  # the retention period in force
    assert 'href="https://aufsicht.nrw.example/"' in privacy  # the authority's page, as configured
    assert 'href="https://ombudsstelle.nrw.example/"' in client.get("/barrierefreiheit").get_data(
        as_text=True
    )
    assert "Kavalleriestraße 2–4" in privacy
    assert "Art. 15" in privacy
    assert "Art. 17" in privacy
    statement = client.get("/barrierefreiheit").get_data(as_text=True)
    assert "04.05.2026" in statement
    assert "ombudsstelle-barrierefreie-it@mags.nrw.de" in statement
    assert 'href="/barrierefreiheit/rueckmeldung"' in statement
    # The operator's own text replaces the packaged one; the other pages keep theirs.
    (tmp_path / "impressum.html").write_text("<p>Herausgegeben vom Ministerium für Test.</p>", "utf-8")
    monkeypatch.setattr(office, "legal_dir", tmp_path)
    replaced = client.get("/impressum").get_data(as_text=True)
    assert "Herausgegeben vom Ministerium für Test." in replaced
    assert "Staatskanzlei des Landes Nordrhein-Westfalen" not in replaced
    assert "Dora Datenschutz" in client.get("/datenschutz").get_data(as_text=True)


def test_unconfigured_pages_say_what_to_fill_in(client):
    assert "[Name der verantwortlichen Behörde in EWS_LEGAL_BODY eintragen]" in client.get(
        "/impressum"
    ).get_data(as_text=True)
    assert "EWS_ACCESSIBILITY_STATEMENT_DATE eintragen" in client.get("/barrierefreiheit").get_data(
        as_text=True
    )


def test_every_page_links_the_legal_pages_in_its_footer(client):
    for path in ("/anmelden", "/hilfe", "/verify", "/impressum"):
        page = client.get(path).get_data(as_text=True)
        footer = page[page.index("<footer") :]
        for target in ("/impressum", "/datenschutz", "/barrierefreiheit"):
            assert f'href="{target}"' in footer, (path, target)


def test_a_barrier_report_goes_to_the_office_and_is_limited_per_address(client, session, office):
    address = "198.51.100.41"
    assert client.post("/barrierefreiheit/rueckmeldung", data=REPORT).status_code == 400  # no CSRF token
    empty = report(client, {**REPORT, "description": "  "}, address)
    assert empty.status_code == 422
    assert "Bitte beschreiben Sie die Barriere." in empty.get_data(as_text=True)
    wrong = report(client, {**REPORT, "email": "keine-adresse"}, address)
    assert wrong.status_code == 422
    assert "Bitte geben Sie eine gültige E-Mail-Adresse an oder lassen Sie das Feld leer." in wrong.get_data(
        as_text=True
    )
    session.rollback()
    assert session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "report_barrier")).all() == []
    sent = report(client, REPORT, address)
    assert sent.status_code == 200
    assert "Vielen Dank für Ihre Meldung" in sent.get_data(as_text=True)
    session.rollback()
    letter = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "report_barrier")).one()
    assert letter.recipient == "ews@stk.nrw.example"  # EWS_OFFICE_EMAIL
    assert letter.headers == {"Reply-To": "rita@example.org"}
    assert REPORT["description"] in letter.body
    assert "Rita Rückmeldung" in letter.body
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "accessibility.barrier_reported")
    ).one()
    assert resolved_data(session, event.data)["description"] == REPORT["description"]
    anonymous = report(client, {"description": "Kontrast zu schwach."}, address)
    assert "können wir Ihnen nicht antworten" in anonymous.get_data(as_text=True)
    for _ in range(2):  # five per address and hour, refused reports counted
        assert report(client, REPORT, address).status_code == 200
    locked = report(client, REPORT, address)
    assert locked.status_code == 429
    assert "zu viele Meldungen" in locked.get_data(as_text=True)
    assert report(client, REPORT, "198.51.100.42").status_code == 200  # another address is not limited


def test_a_revoked_certificate_shows_the_day_not_the_reason(client, session, factory, office):
    cohort = factory.cohort(ceremony_on=None)
    case = factory.case(cohort, FINNENTROP, state=State.CERTIFIED)
    certificate = session.scalars(select(Certificate).where(Certificate.case_id == case.id)).first()
    revoke_certificate(session, certificate, factory.coordinator(), "Interner Grund: Täuschungsverdacht")
    session.commit()
    page = client.get(f"/verify/{certificate.verification_code}").get_data(as_text=True)
    day = certificate.revoked_at.astimezone(BERLIN).strftime("%d.%m.%Y")
    assert f"Dieses Zertifikat wurde am {day} widerrufen" in page
    assert "Täuschungsverdacht" not in page
    assert "ews@stk.nrw.example" in page  # the programme office as contact
    body = client.get(f"/verify/{certificate.verification_code}", headers={"Accept": "application/json"})
    assert body.get_json()["status"] == "revoked"
    assert "Täuschungsverdacht" not in body.get_data(as_text=True)


def test_the_code_field_leads_to_the_certificate(client, session, factory):
    case = factory.case(factory.cohort(), FINNENTROP, state=State.CERTIFIED)
    code = session.scalars(
        select(Certificate.verification_code).where(Certificate.case_id == case.id)
    ).first()
    session.commit()
    form = client.get("/verify").get_data(as_text=True)
    assert 'action="/verify"' in form
    assert 'name="code"' in form
    typed = client.get("/verify", query_string={"code": f"  {code} "})
    assert (typed.status_code, typed.headers["Location"]) == (303, f"/verify/{code}")
    pasted = client.get("/verify", query_string={"code": f"https://ews.test/verify/{code}"})
    assert pasted.headers["Location"] == f"/verify/{code}"
    assert "Gültig." in client.get(pasted.headers["Location"]).get_data(as_text=True)
    empty = client.get("/verify", query_string={"code": " "})
    assert empty.status_code == 400
    assert "Bitte geben Sie den Prüfcode ein" in empty.get_data(as_text=True)
