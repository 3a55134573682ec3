"""Public pages without login: certificate verification (HTML and JSON); unsubscribing is in tests/web."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ews_cases.models import AuditEvent, Case, Certificate
from ews_cases.services.certificates import revoke_certificate
from testkit.factories import FINNENTROP
from workflows import State

JSON = {"Accept": "application/json"}


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def certified(session, factory) -> Case:
    """A certified case of Finnentrop whose two team members hold a certificate each."""
    cohort = factory.cohort(title="6. Entwicklungswerkstatt", ceremony_place="Siegburg")
    factory.workshop(cohort)
    case = factory.case(cohort, FINNENTROP, state=State.CERTIFIED)
    session.commit()
    return case


def certificate_of(session, case: Case) -> Certificate:
    query = select(Certificate).where(Certificate.case_id == case.id).order_by(Certificate.serial)
    return session.scalars(query).first()


def audit_count(session, action: str) -> int:
    session.commit()  # a fresh snapshot: the request committed in its own session
    return session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action))


# -- /verify/<code> -----------------------------------------------------------------------------------


def test_verify_page_shows_a_valid_certificate(client, session, certified):
    certificate = certificate_of(session, certified)
    response = client.get(f"/verify/{certificate.verification_code}")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "Gültig." in page
    assert "Widerrufen." not in page
    assert certificate.holder_name in page
    assert certificate.serial in page
    assert "6. Entwicklungswerkstatt" in page
    assert "Finnentrop" in page


def test_verify_answers_json_when_asked(client, session, certified):
    certificate = certificate_of(session, certified)
    response = client.get(f"/verify/{certificate.verification_code}", headers=JSON)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["valid"] is True
    assert body["status"] == "valid"
    assert body["serial"] == certificate.serial
    assert body["name"] == certificate.holder_name
    assert body["cohort"] == certified.cohort.number
    assert body["municipality"] == "Finnentrop"
    assert body["date"] == certificate.issued_at.date().isoformat()
    assert body["revoked_at"] is None
    # Anyone may verify: nothing beyond what the certificate itself shows.
    assert "@" not in response.get_data(as_text=True)


def test_a_browser_accept_header_gets_html(client, session, certified):
    certificate = certificate_of(session, certified)
    accept = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    response = client.get(f"/verify/{certificate.verification_code}", headers=accept)
    assert (response.status_code, response.mimetype) == (200, "text/html")


def test_verify_shows_a_revoked_certificate(client, session, factory, certified):
    certificate = certificate_of(session, certified)
    revoke_certificate(session, certificate, factory.coordinator(), "Name falsch geschrieben")
    session.commit()

    body = client.get(f"/verify/{certificate.verification_code}", headers=JSON).get_json()
    assert (body["valid"], body["status"]) == (False, "revoked")
    assert "revoked_reason" not in body  # the fact and the date are public; the internal reason is not
    assert body["revoked_at"].startswith(certificate.revoked_at.date().isoformat())
    page = client.get(f"/verify/{certificate.verification_code}").get_data(as_text=True)
    assert "Widerrufen." in page
    assert "Gültig." not in page
    assert "Name falsch geschrieben" not in page


@pytest.mark.parametrize("code", ["unbekannt", "A" * 22, "x" * 65, "x" * 500])
def test_an_unknown_code_is_404(client, certified, code):
    response = client.get(f"/verify/{code}")
    assert response.status_code == 404
    assert "Unbekannter Prüfcode." in response.get_data(as_text=True)
    response = client.get(f"/verify/{code}", headers=JSON)
    assert response.status_code == 404
    assert response.get_json() == {"valid": False, "status": "unknown"}
