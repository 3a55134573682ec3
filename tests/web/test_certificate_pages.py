"""The office's certificate pages of issue 16: replacing a certificate, a cohort's prepared certificates and
their early release, who may open them, and what production says without a seal."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from ews_cases.audit.queries import resolved_data
from ews_cases.documents.certificate_pdf import render_certificate
from ews_cases.documents.seal import load_signer, make_self_signed_seal, seal_configured, seal_pdf
from ews_cases.models import AuditEvent, Case, Certificate, OutboxMessage
from ews_cases.settings import Settings
from ews_cases.web.office_certificates import sealing_note
from testkit.factories import FINNENTROP
from tests.test_certificate_pdf import TEXT
from tests.web.helpers import login, post_form
from workflows import BERLIN, State

PASSWORD = "richtig-geheim-2027"


@pytest.fixture
def client(app):
    return app.test_client()


def signed_in(client, session, factory, role: str):
    user = factory.user(role, FINNENTROP if role == "applicant" else None, password=PASSWORD)
    session.commit()
    login(client, user.email, PASSWORD)
    return client


def certificates_of(session, case: Case) -> list[Certificate]:
    session.commit()
    session.expire_all()
    query = select(Certificate).where(Certificate.case_id == case.id).order_by(Certificate.id)
    return list(session.scalars(query))


@pytest.fixture
def certified(session, factory) -> Case:
    cohort = factory.cohort(title="6. Entwicklungswerkstatt")
    factory.workshop(cohort)
    case = factory.case(cohort, FINNENTROP, state=State.CERTIFIED)
    session.commit()
    return case


@pytest.fixture
def waiting(session, factory) -> Case:
    """A case whose certificates wait for the ceremony in 30 days."""
    cohort = factory.cohort(
        title="7. Entwicklungswerkstatt",
        ceremony_on=factory.now.astimezone(BERLIN).date() + timedelta(days=30),
    )
    factory.workshop(cohort)
    case = factory.case(cohort, FINNENTROP, state=State.PROJECT_DONE)
    factory.fire(case, "certify")
    session.commit()
    return case


def test_the_office_replaces_a_certificate_with_a_corrected_name(client, session, factory, certified):
    office = signed_in(client, session, factory, "coordinator")
    old = certificates_of(session, certified)[0]
    listing = office.get(f"/programm/faelle/{certified.id}/zertifikate").get_data(as_text=True)
    url = f"/programm/faelle/{certified.id}/zertifikate/{old.id}/ersetzen"
    assert f'href="{url}"' in listing
    form = office.get(url)
    assert form.status_code == 200
    assert f'value="{old.holder_name}"' in form.get_data(as_text=True)

    refused = post_form(office, url, {"holder_name": "Łucja Wąsik-Nguyễn", "reason": " "})
    assert refused.status_code == 422
    assert certificates_of(session, certified)[0].revoked_at is None

    done = post_form(office, url, {"holder_name": "Łucja Wąsik-Nguyễn", "reason": "Name falsch geschrieben"})
    assert done.status_code == 303
    old, _other, new = certificates_of(session, certified)
    assert (old.status, old.replaced_by_id, new.holder_name) == ("revoked", new.id, "Łucja Wąsik-Nguyễn")
    listing = office.get(f"/programm/faelle/{certified.id}/zertifikate").get_data(as_text=True)
    assert f"ersetzt durch {new.serial}" in listing
    assert session.get(Case, certified.id).state == State.CERTIFIED


def test_the_office_sees_prepared_certificates_and_releases_them_early(client, session, factory, waiting):
    office = signed_in(client, session, factory, "coordinator")
    url = f"/programm/durchgaenge/{waiting.cohort.number}/zertifikate"
    page = office.get(url).get_data(as_text=True)
    for certificate in certificates_of(session, waiting):
        assert certificate.serial in page
        assert f'href="/bewerbungen/zertifikate/{certificate.serial}.pdf"' in page
        assert office.get(f"/bewerbungen/zertifikate/{certificate.serial}.pdf").data.startswith(b"%PDF")
    assert 'data-release="ceremony"' in page
    assert post_form(office, url, {"reason": ""}).status_code == 422
    assert session.get(Case, waiting.id).state == State.PROJECT_DONE

    assert post_form(office, url, {"reason": "Feier entfällt"}).status_code == 303
    session.commit()
    session.expire_all()
    assert session.get(Case, waiting.id).state == State.CERTIFIED
    assert all(c.status == "valid" for c in certificates_of(session, waiting))
    released = session.scalar(
        select(AuditEvent.data).where(AuditEvent.action == "cohort.certificates_released")
    )
    assert resolved_data(session, released)["reason"] == "Feier entfällt"
    mails = session.scalars(select(OutboxMessage.kind).where(OutboxMessage.case_id == waiting.id)).all()
    assert mails.count("send_certificates") == 2
    assert 'data-release="early"' in office.get(url).get_data(as_text=True)


def test_the_holder_cannot_download_a_prepared_certificate(client, session, factory, waiting):
    applicant = signed_in(client, session, factory, "applicant")
    serial = certificates_of(session, waiting)[0].serial
    assert applicant.get(f"/bewerbungen/zertifikate/{serial}.pdf").status_code == 404


@pytest.mark.parametrize("role", ["applicant", "reviewer", "auditor", "admin"])
def test_only_the_office_opens_the_new_pages(client, session, factory, waiting, role):
    other = signed_in(client, session, factory, role)
    certificate = certificates_of(session, waiting)[0]
    for path in (
        f"/programm/faelle/{waiting.id}/zertifikate/{certificate.id}/ersetzen",
        f"/programm/durchgaenge/{waiting.cohort.number}/zertifikate",
    ):
        assert other.get(path).status_code == 403, (role, path)


def test_the_auditor_timeline_links_the_pdfs(client, session, factory, certified):
    auditor = signed_in(client, session, factory, "auditor")
    page = auditor.get(f"/pruefung/faelle/{certified.id}").get_data(as_text=True)
    for certificate in certificates_of(session, certified):
        assert f'href="/bewerbungen/zertifikate/{certificate.serial}.pdf"' in page
        assert auditor.get(f"/bewerbungen/zertifikate/{certificate.serial}.pdf").data.startswith(b"%PDF")


def test_production_without_a_seal_issues_unsealed_pdfs_and_warns_each_time(caplog, tmp_path):
    production = Settings(env="production", secret_key="x" * 40, data_dir=tmp_path)
    assert not seal_configured(production)
    pdf = render_certificate(TEXT)
    with caplog.at_level(logging.WARNING, logger="ews_cases.documents.seal"):
        for _ in range(2):
            sealed = seal_pdf(pdf, production, TEXT.serial)
            assert (sealed.sealed, sealed.pdf) == (False, pdf)
    assert [r.getMessage() for r in caplog.records].count(
        f"Certificate {TEXT.serial} issued UNSEALED: EWS_SEAL_P12 is not configured in production"
    ) == 2
    assert not (tmp_path / "seal").exists()  # no development seal in production


def test_a_configured_seal_is_used_in_production(tmp_path):
    path = tmp_path / "seal.p12"
    make_self_signed_seal(path, b"geheim", common_name="EWS-Programmsiegel")
    production = Settings(
        env="production", secret_key="x" * 40, data_dir=tmp_path, seal_p12=path, seal_password="geheim"
    )
    assert seal_configured(production)
    assert seal_pdf(render_certificate(TEXT), production, TEXT.serial).sealed
    assert "EWS-Programmsiegel" in load_signer(production).signing_cert.subject.human_friendly


def test_the_office_pages_say_when_pdfs_are_unsealed(app, tmp_path):
    production = Settings(env="production", secret_key="x" * 40, data_dir=tmp_path)
    with app.test_request_context(headers={"Accept-Language": "de"}):
        assert sealing_note() is None  # tests make the development seal
        assert "Es ist kein Siegel (EWS_SEAL_P12) eingerichtet" in sealing_note(production)
