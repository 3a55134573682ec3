"""Exports of the programme office that a German office can open: the case list and the attendance register
as CSV for Excel in a German locale (BOM, semicolons), comma-separated CSV for tools, and XLSX."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

import pytest
from openpyxl import load_workbook

from ews_cases.models import Case
from ews_cases.services.participation import record_attendance
from testkit.factories import ATTENDORN, DUESSELDORF, FINNENTROP, complete_content
from tests.web.helpers import login
from tests.web.test_office_pages import PASSWORD
from workflows import State

CASES = "/programm/bewerbungen"


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def cohort_with_cases(session, factory):
    """Cohort 7: Düsseldorf reviewed (ranked), Finnentrop attending with attendance, Attendorn a draft."""
    cohort = factory.cohort(number=7, title="7. Entwicklungswerkstatt")
    workshop = factory.workshop(cohort)
    content = replace(complete_content(cohort.team_size, "x"), contact_name="Jürgen Müller-Lüdenscheidt")
    reviewed = factory.case(cohort, DUESSELDORF, content=content, state=State.REVIEWED)
    attending = factory.case(cohort, FINNENTROP, state=State.ATTENDING)
    factory.case(cohort, ATTENDORN)
    first, second = attending.team
    office = factory.coordinator()
    record_attendance(
        session, attending, office, session_id=workshop.id, member_id=first.id, status="present"
    )
    record_attendance(
        session, attending, office, session_id=workshop.id, member_id=second.id, status="excused"
    )
    session.commit()
    return cohort, reviewed, attending


def logged_in(client, factory, session, role: str):
    user = factory.user(role, FINNENTROP if role == "applicant" else None, password=PASSWORD)
    session.commit()
    login(client, user.email, PASSWORD)
    return client


def excel_rows(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline=""), delimiter=";"))


@pytest.mark.parametrize("role", ["coordinator", "auditor"])
def test_the_case_list_as_german_csv_keeps_umlauts_and_has_one_row_per_case(
    client,
    session,
    factory,
    cohort_with_cases,
    role,
):
    _cohort, reviewed, _attending = cohort_with_cases
    client = logged_in(client, factory, session, role)
    response = client.get(f"{CASES}/export.csv?durchgang=7")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=ews-bewerbungen-")
    body = response.get_data()
    assert b"\r\n" in body
    rows = excel_rows(body)
    assert rows[0][:3] == ["Aktenzeichen", "Kommune", "Gemeindeschlüssel"]
    assert len(rows) == 1 + 3
    by_reference = {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    düsseldorf = by_reference[reviewed.reference]
    assert düsseldorf["Kommune"] == "Düsseldorf"
    assert düsseldorf["Ansprechperson"] == "Jürgen Müller-Lüdenscheidt"
    assert düsseldorf["Status"] == "Begutachtet"
    assert düsseldorf["Rang"] == "1"
    assert "," in düsseldorf["Mittlere Punktzahl"]  # a German decimal comma
    # For tools: commas, no BOM, the same cells but numbers with a point.
    tools = client.get(f"{CASES}/export.csv?durchgang=7&dialect=rfc4180").get_data()
    assert not tools.startswith(b"\xef\xbb\xbf")
    tool_rows = list(csv.reader(io.StringIO(tools.decode("utf-8"), newline="")))
    assert [row[0] for row in tool_rows] == [row[0] for row in rows]
    assert client.get(f"{CASES}/export.csv?dialect=excel").status_code == 400


def test_the_case_list_as_xlsx_has_one_row_per_case(client, session, factory, cohort_with_cases):
    _cohort, reviewed, attending = cohort_with_cases
    client = logged_in(client, factory, session, "coordinator")
    page = client.get(f"{CASES}?durchgang=7").get_data(as_text=True)
    assert 'id="export-cases-xlsx" href="/programm/bewerbungen/export.xlsx?durchgang=7"' in page
    response = client.get(f"{CASES}/export.xlsx?durchgang=7")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:2] == ("Aktenzeichen", "Kommune")
    assert len(rows) == 1 + session.query(Case).filter(Case.cohort_id == reviewed.cohort_id).count()
    assert {row[0] for row in rows[1:]} >= {reviewed.reference, attending.reference}
    assert "Düsseldorf" in {row[1] for row in rows[1:]}
    # The whole list, all cohorts: one row per case there is.
    everything = load_workbook(io.BytesIO(client.get(f"{CASES}/export.xlsx").get_data())).active
    assert everything.max_row == 1 + session.query(Case).count()


def test_the_attendance_register_as_xlsx_and_csv(client, session, factory, cohort_with_cases):
    cohort, _reviewed, attending = cohort_with_cases
    client = logged_in(client, factory, session, "coordinator")
    dashboard = client.get(f"/programm?durchgang={cohort.number}").get_data(as_text=True)
    assert f'href="/programm/durchgaenge/{cohort.number}/anwesenheit.xlsx"' in dashboard
    response = client.get(f"/programm/durchgaenge/{cohort.number}/anwesenheit.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("Aktenzeichen", "Kommune", "Name", "Funktion")
    assert len(rows) == 1 + len(attending.team)  # only the participating case has a register
    statuses = sorted(row[4] for row in rows[1:])
    assert statuses == ["anwesend", "entschuldigt"]
    csv_rows = excel_rows(client.get(f"/programm/durchgaenge/{cohort.number}/anwesenheit.csv").get_data())
    assert [row[:5] for row in csv_rows[1:]] == [[str(v) for v in row[:5]] for row in rows[1:]]
    assert client.get("/programm/durchgaenge/999/anwesenheit.xlsx").status_code == 404


@pytest.mark.parametrize("role", ["applicant", "reviewer", "admin"])
def test_other_roles_cannot_download_the_office_exports(
    client,
    session,
    factory,
    cohort_with_cases,
    role,
):
    client = logged_in(client, factory, session, role)
    for url in (
        f"{CASES}/export.csv",
        f"{CASES}/export.xlsx",
        "/programm/durchgaenge/7/anwesenheit.csv",
        "/programm/durchgaenge/7/anwesenheit.xlsx",
    ):
        assert client.get(url).status_code == 403, url
