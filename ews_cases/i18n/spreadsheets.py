"""Tables for spreadsheets: CSV in the dialect its reader expects, and XLSX (openpyxl).

`excel-de` is what Excel in a German locale opens with a double click: UTF-8 with a byte order mark (without
it Excel reads Windows-1252 and breaks every umlaut), `;` between fields (`,` is the decimal separator) and
CRLF line ends. `rfc4180` is the comma-separated form tools read (UTF-8 without BOM, as the exports always
were). Pages for people offer `excel-de` first; the API answers `rfc4180` unless asked otherwise.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ews_cases.i18n.translate import N_
from workflows import BERLIN


@dataclass(frozen=True, slots=True)
class CsvDialect:
    delimiter: str
    lineterminator: str
    byte_order_mark: bool


CSV_DIALECTS: dict[str, CsvDialect] = {
    "excel-de": CsvDialect(";", "\r\n", True),
    "rfc4180": CsvDialect(",", "\n", False),
}
#: The default for people (pages) and for tools (API, command line).
FOR_PEOPLE, FOR_TOOLS = "excel-de", "rfc4180"
UNKNOWN_DIALECT = N_("Unbekannte CSV-Variante: erlaubt sind excel-de (Excel) und rfc4180 (kommagetrennt).")
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_CHUNK = 64 * 1024


def iter_csv_rows(rows: Iterable[Sequence[Any]], dialect: str) -> Iterator[bytes]:
    """The rows (the header first) as CSV in `dialect`, as byte chunks of about 64 KB."""
    spec = CSV_DIALECTS[dialect]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=spec.delimiter, lineterminator=spec.lineterminator)
    if spec.byte_order_mark:
        buffer.write("\ufeff")
    for row in rows:
        writer.writerow(row)
        if buffer.tell() > _CHUNK:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def _cell(value: Any) -> Any:
    """A value as a spreadsheet cell: times in Berlin without offset (Excel has no time zones)."""
    if isinstance(value, datetime):
        return value.astimezone(BERLIN).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, Decimal):
        return float(value)
    if value is None or isinstance(value, str | int | float | date):
        return value
    return str(value)


def xlsx_bytes(sheet_title: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """One worksheet with a bold, frozen header row and filters, as the bytes of an .xlsx file."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=False)
    sheet = workbook.active
    sheet.title = sheet_title[:31]  # Excel's limit for sheet names
    sheet.append(list(header))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    count = 0
    for row in rows:
        sheet.append([_cell(v) for v in row])
        count += 1
    for index, cell in enumerate(sheet[1], start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = max(12, min(48, len(str(cell.value)) + 4))
        for data_cell in sheet[letter][1:]:
            if isinstance(data_cell.value, datetime):
                data_cell.number_format = "DD.MM.YYYY HH:MM"
            elif isinstance(data_cell.value, date):
                data_cell.number_format = "DD.MM.YYYY"
    sheet.freeze_panes = "A2"
    if count:
        sheet.auto_filter.ref = sheet.dimensions
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()
