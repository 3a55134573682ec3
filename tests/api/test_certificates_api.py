"""Certificates over HTTP: the list with verification links, the PDF download and revocation."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from ews_cases.audit.queries import resolved_data
from ews_cases.models import AuditEvent, Certificate
from testkit.factories import DUESSELDORF, FINNENTROP
from tests.api.test_participation_api import assert_problem, bearer, role_tokens, token_for
from workflows import State

PDF = b"%PDF-1.4\n% EWS test certificate\n%%EOF\n"


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def tokens(session, factory):
    return role_tokens(session, factory)


@pytest.fixture
def certified(session, factory):
    """A certified case of Finnentrop: both team members hold a certificate."""
    cohort = factory.cohort()
    factory.workshop(cohort)
    case = factory.case(cohort, FINNENTROP, state=State.CERTIFIED)
    session.commit()
    return case


def certificates_of(session, case) -> list[Certificate]:
    found = session.scalars(
        select(Certificate).where(Certificate.case_id == case.id).order_by(Certificate.serial)
    ).all()
    session.commit()
    return list(found)


def store_pdf(session, certificate: Certificate, path: str | None) -> None:
    """Point the certificate at a PDF file (None: not produced yet)."""
    certificate.pdf_path = path
    certificate.pdf_sha256 = hashlib.sha256(PDF).hexdigest() if path is not None else None
    session.commit()


def test_list_shows_each_members_certificate_with_its_verification_url(client, session, tokens, certified):
    stored = certificates_of(session, certified)
    response = client.get(f"/api/v1/cases/{certified.id}/certificates", headers=bearer(tokens["applicant"]))
    assert response.status_code == 200
    items = response.get_json()["items"]
    assert [i["serial"] for i in items] == [c.serial for c in stored]
    assert {i["member"] for i in items} == {m.id for m in certified.team}
    first = items[0]
    assert first["holder_name"] == stored[0].holder_name
    assert first["verification_url"] == f"http://ews.test/verify/{stored[0].verification_code}"
    assert first["issued_at"].endswith("+00:00")
    assert first["revoked_at"] is None
    assert first["revoked_reason"] is None
    assert first["sha256"] == stored[0].pdf_sha256
    assert first["pdf_url"] == (
        f"/api/v1/certificates/{stored[0].serial}.pdf" if stored[0].pdf_path else None
    )


def test_list_without_pdf_has_no_pdf_url(client, session, tokens, certified):
    certificate = certificates_of(session, certified)[0]
    store_pdf(session, certificate, None)
    response = client.get(f"/api/v1/cases/{certified.id}/certificates", headers=bearer(tokens["coordinator"]))
    item = next(i for i in response.get_json()["items"] if i["serial"] == certificate.serial)
    assert item["sha256"] is None
    assert item["pdf_url"] is None


@pytest.mark.parametrize(("who", "status"), [("reviewer", 403), ("admin", 403), ("stranger", 404)])
def test_list_is_hidden_from_reviewers_and_other_municipalities(client, tokens, certified, who, status):
    response = client.get(f"/api/v1/cases/{certified.id}/certificates", headers=bearer(tokens[who]))
    assert_problem(response, status)


def test_pdf_is_404_until_it_was_produced(client, session, tokens, certified):
    certificate = certificates_of(session, certified)[0]
    serial = certificate.serial
    store_pdf(session, certificate, None)
    response = client.get(f"/api/v1/certificates/{serial}.pdf", headers=bearer(tokens["applicant"]))
    body = assert_problem(response, 404)
    assert "noch erstellt" in body["detail"]


@pytest.mark.parametrize("relative", [False, True])
def test_pdf_is_served_from_the_stored_path(app, client, session, tokens, certified, tmp_path, relative):
    certificate = certificates_of(session, certified)[0]
    if relative:  # paths relative to the storage folder, as a worker on another machine would store them
        storage = app.extensions["ews"].settings.certificate_dir
        (storage / "certificates").mkdir(parents=True, exist_ok=True)
        (storage / "certificates" / f"{certificate.serial}.pdf").write_bytes(PDF)
        store_pdf(session, certificate, f"certificates/{certificate.serial}.pdf")
    else:
        path = tmp_path / "c.pdf"
        path.write_bytes(PDF)
        store_pdf(session, certificate, str(path))

    for who in ("applicant", "coordinator", "auditor"):
        response = client.get(f"/api/v1/certificates/{certificate.serial}.pdf", headers=bearer(tokens[who]))
        assert response.status_code == 200, (who, response.get_data(as_text=True))
        assert response.mimetype == "application/pdf"
        assert response.data == PDF
        assert f"{certificate.serial}.pdf" in response.headers["Content-Disposition"]

    listed = client.get(f"/api/v1/cases/{certified.id}/certificates", headers=bearer(tokens["applicant"]))
    item = next(i for i in listed.get_json()["items"] if i["serial"] == certificate.serial)
    assert item["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert item["pdf_url"] == f"/api/v1/certificates/{certificate.serial}.pdf"


def test_issued_pdfs_are_served_with_their_recorded_sha256(client, session, tokens, certified):
    stored = certificates_of(session, certified)
    assert all(c.pdf_path for c in stored)  # issuance renders the PDFs
    for certificate in stored:
        response = client.get(
            f"/api/v1/certificates/{certificate.serial}.pdf", headers=bearer(tokens["applicant"])
        )
        assert response.status_code == 200
        assert response.data.startswith(b"%PDF")
        assert hashlib.sha256(response.data).hexdigest() == certificate.pdf_sha256


def test_pdf_whose_file_is_gone_is_404(client, session, tokens, certified, tmp_path):
    certificate = certificates_of(session, certified)[0]
    store_pdf(session, certificate, str(tmp_path / "missing.pdf"))
    response = client.get(
        f"/api/v1/certificates/{certificate.serial}.pdf", headers=bearer(tokens["coordinator"])
    )
    assert_problem(response, 404)


@pytest.mark.parametrize(("who", "status"), [("stranger", 404), ("reviewer", 403)])
def test_pdf_is_hidden_from_others(client, session, tokens, certified, tmp_path, who, status):
    certificate = certificates_of(session, certified)[0]
    (tmp_path / "c.pdf").write_bytes(PDF)
    store_pdf(session, certificate, str(tmp_path / "c.pdf"))
    response = client.get(f"/api/v1/certificates/{certificate.serial}.pdf", headers=bearer(tokens[who]))
    assert_problem(response, status)


def test_unknown_serial_is_404(client, tokens):
    assert_problem(
        client.get("/api/v1/certificates/EWS9-2026-999.pdf", headers=bearer(tokens["auditor"])), 404
    )
    response = client.post(
        "/api/v1/certificates/EWS9-2026-999/revoke",
        json={"reason": "x"},
        headers=bearer(tokens["coordinator"]),
    )
    assert_problem(response, 404)


def test_coordinator_revokes_with_a_reason_once(client, session, tokens, certified):
    serial = certificates_of(session, certified)[0].serial
    url = f"/api/v1/certificates/{serial}/revoke"
    response = client.post(
        url, json={"reason": "Name falsch geschrieben"}, headers=bearer(tokens["coordinator"])
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["serial"] == serial
    assert body["revoked_reason"] == "Name falsch geschrieben"
    assert body["revoked_at"] is not None

    again = client.post(url, json={"reason": "nochmal"}, headers=bearer(tokens["coordinator"]))
    assert_problem(again, 409)

    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "certificate.revoked")).one()
    session.commit()
    assert event.case_id == certified.id
    assert resolved_data(session, event.data) == {"serial": serial, "reason": "Name falsch geschrieben"}
    listed = client.get(f"/api/v1/cases/{certified.id}/certificates", headers=bearer(tokens["auditor"]))
    assert next(i for i in listed.get_json()["items"] if i["serial"] == serial)["revoked_at"] is not None


@pytest.mark.parametrize(
    ("body", "field"), [({}, "reason"), ({"reason": "   "}, "reason"), ({"reason": 3}, "reason")]
)
def test_revoking_needs_a_reason(client, session, tokens, certified, body, field):
    serial = certificates_of(session, certified)[0].serial
    response = client.post(
        f"/api/v1/certificates/{serial}/revoke", json=body, headers=bearer(tokens["coordinator"])
    )
    assert_problem(response, 422, field)


@pytest.mark.parametrize("who", ["auditor", "applicant", "reviewer", "admin"])
def test_only_coordinators_revoke(client, session, tokens, certified, who):
    serial = certificates_of(session, certified)[0].serial
    response = client.post(
        f"/api/v1/certificates/{serial}/revoke", json={"reason": "x"}, headers=bearer(tokens[who])
    )
    assert_problem(response, 403)
    assert certificates_of(session, certified)[0].revoked_at is None


def test_a_replacement_name_with_control_characters_is_refused(client, session, factory):
    """Found by schemathesis' stateful run: the PDF's XMP metadata (XML) cannot carry a C0 control character,
    and sealing failed with a 500."""
    cohort = factory.cohort(7)
    factory.workshop(cohort)
    case = factory.case(cohort, DUESSELDORF, state=State.CERTIFIED)
    token = token_for(session, factory, "coordinator")
    serial = client.get(f"/api/v1/cases/{case.id}/certificates", headers=bearer(token)).get_json()["items"][0]
    response = client.post(
        f"/api/v1/certificates/{serial['serial']}/replace",
        json={"holder_name": "\u0015Erika\u0096", "reason": "Tippfehler"},
        headers=bearer(token),
    )
    assert response.status_code == 422, response.get_data(as_text=True)
    assert "holder_name" in response.get_json()["errors"]
    assert client.get(serial["pdf_url"], headers=bearer(token)).status_code == 200  # not revoked
