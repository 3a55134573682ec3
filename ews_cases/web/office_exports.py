"""Downloads of the programme office: the case list and a cohort's attendance register as CSV or XLSX.

CSV comes for Excel in a German locale unless `?dialect=rfc4180` asks for the comma-separated form for
tools (`ews_cases.i18n.spreadsheets`). Coordinators download them; auditors, who read everything, too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from flask import Response, abort, request

from ews_cases.db.request_session import db_session
from ews_cases.errors import NotFound
from ews_cases.i18n.formatting import de_date, de_number
from ews_cases.i18n.spreadsheets import (
    CSV_DIALECTS,
    CSV_MEDIA_TYPE,
    FOR_PEOPLE,
    UNKNOWN_DIALECT,
    XLSX_MEDIA_TYPE,
    iter_csv_rows,
    xlsx_bytes,
)
from ews_cases.i18n.translate import N_, _
from ews_cases.models import utcnow
from ews_cases.services.case_search import CaseFilter
from ews_cases.services.cohorts import get_cohort
from ews_cases.services.office_exports import attendance_sheet, case_list
from ews_cases.web.access import roles_required
from ews_cases.web.office import office
from ews_cases.web.office_forms import ATTENDANCE_LABELS
from workflows import BERLIN, STATE_LABELS, State

EXPORT_READERS = ("coordinator", "auditor")
CASE_COLUMNS = (
    N_("Aktenzeichen"),
    N_("Kommune"),
    N_("Gemeindeschlüssel"),
    N_("Kreis"),
    N_("Regierungsbezirk"),
    N_("Durchgang"),
    N_("Status"),
    N_("Eingereicht am"),
    N_("Gutachten"),
    N_("Mittlere Punktzahl"),
    N_("Rang"),
    N_("Ansprechperson"),
    N_("E-Mail der Ansprechperson"),
)
STATE_VALUES = frozenset(s.value for s in State)


def _download(name: str, fmt: str, sheet: str, header: Sequence[str], rows: list[list[Any]]) -> Response:
    """The table as a file to download: CSV in the asked dialect, or XLSX."""
    if fmt == "xlsx":
        response = Response(xlsx_bytes(sheet, header, rows), mimetype=XLSX_MEDIA_TYPE)
    else:
        dialect = request.args.get("dialect", FOR_PEOPLE)
        if dialect not in CSV_DIALECTS:
            return Response(_(UNKNOWN_DIALECT), status=400, mimetype="text/plain")
        text = [[_csv_cell(value, dialect) for value in row] for row in rows]
        response = Response(b"".join(iter_csv_rows([list(header), *text], dialect)), mimetype=CSV_MEDIA_TYPE)
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    response.headers["Content-Disposition"] = f"attachment; filename={name}-{stamp}.{fmt}"
    return response


def _csv_cell(value: Any, dialect: str) -> Any:
    """Dates and numbers as German Excel reads them (for people), ISO and points for tools."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return (
            value.astimezone(BERLIN).strftime("%d.%m.%Y %H:%M")
            if dialect == FOR_PEOPLE
            else value.isoformat()
        )
    if isinstance(value, float):
        return de_number(value, 2) if dialect == FOR_PEOPLE else f"{value:.2f}"
    return value


def _case_rows(cases: list[Any]) -> Iterator[list[Any]]:
    for row in cases:
        case = row.case
        yield [
            case.reference,
            case.municipality.name,
            case.municipality.ags,
            case.municipality.kreis_name,
            case.municipality.regierungsbezirk,
            case.cohort.number,
            _(STATE_LABELS[State(case.state)]),
            case.submitted_at,
            row.reviews,
            round(float(row.mean_score), 2) if row.mean_score is not None else None,
            row.rank,
            case.contact_name,
            case.contact_email,
        ]


@office.get("/bewerbungen/export.<any(csv, xlsx):fmt>")
@roles_required(*EXPORT_READERS)
def case_list_export(fmt: str) -> Response:
    """The case list with the filters of the list page (`durchgang`, `status`, `q`): one row per case."""
    state = request.args.get("status", "")
    filters = CaseFilter(
        cohort=request.args.get("durchgang", type=int),
        state=state if state in STATE_VALUES else None,
        text=request.args.get("q", "").strip()[:100],
    )
    rows = list(_case_rows(case_list(db_session(), filters)))
    return _download("ews-bewerbungen", fmt, _("Bewerbungen"), [_(c) for c in CASE_COLUMNS], rows)


@office.get("/durchgaenge/<int:number>/anwesenheit.<any(csv, xlsx):fmt>")
@roles_required(*EXPORT_READERS)
def attendance_export(number: int, fmt: str) -> Response:
    """The cohort's attendance register: one row per team member, one column per session."""
    session = db_session()
    try:
        cohort = get_cohort(session, number)
    except NotFound:
        abort(404)
    sheet = attendance_sheet(session, cohort)
    header = [
        _("Aktenzeichen"),
        _("Kommune"),
        _("Name"),
        _("Funktion"),
        *(f"{event.title} ({de_date(event.starts_at)})" for event in sheet.sessions),
        _("Anteil besuchter Workshops"),
        _("Mindestanwesenheit erreicht"),
    ]
    rows = [
        [
            row.case.reference,
            row.case.municipality.name,
            row.member_name,
            row.position,
            *(_(ATTENDANCE_LABELS[s]) if s else None for s in row.statuses),
            round(float(row.share), 2),
            _("ja") if row.reaches_min_attendance else _("nein"),
        ]
        for row in sheet.rows
    ]
    return _download(f"ews{number}-anwesenheit", fmt, _("Anwesenheit"), header, rows)
