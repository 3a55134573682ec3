"""`ews audit verify` and `ews audit export`, run as a separate process against the test database."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from ews_cases.audit.chain import chain_hash
from ews_cases.audit.export import CSV_COLUMNS
from ews_cases.models import AuditEvent, case_chain
from testkit.factories import ATTENDORN
from tests.audit.test_integrity import expected_privilege_warnings, trigger_lifted
from tests.test_audit import chain_events, count_events, forge_data, run_verifier_script
from workflows import State

REPO = Path(__file__).resolve().parents[1]


def ews(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the `ews` command line in its own process (fresh settings, real exit code)."""
    return subprocess.run(
        [sys.executable, "-c", "from ews_cases.cli.commands import main; main()", *args],
        env={**os.environ, "EWS_DATABASE_URL": database_url},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def history(session, factory):
    """Two cases with some history, committed so that another process sees them."""
    cohort = factory.cohort()
    first = factory.case(cohort, state=State.REVIEWED)
    factory.case(cohort, ATTENDORN, state=State.SUBMITTED)
    session.commit()
    return first


def test_verify_passes_on_an_untouched_database(db, database_url, history):
    result = ews(database_url, "audit", "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: all chains verify" in result.stdout
    # The triggers are in place; the suite connects to PostgreSQL as a superuser, which is only a warning.
    warnings = [line for line in result.stdout.splitlines() if line.startswith("WARNING")]
    assert warnings == [f"WARNING: {warning}" for warning in expected_privilege_warnings(db)]


def test_verify_fails_while_an_append_only_trigger_is_missing_or_disabled(db, database_url, history):
    with trigger_lifted(db) as trigger:
        result = ews(database_url, "audit", "verify")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "OK: all chains verify" in result.stdout  # the chains are intact: nothing was changed yet
    state = "missing" if db.is_sqlite else "disabled"
    assert f"WARNING: append-only trigger {trigger} on audit_events is {state}" in result.stdout.splitlines()

    again = ews(database_url, "audit", "verify")
    assert again.returncode == 0, again.stdout + again.stderr


def test_sql_edit_is_refused_and_after_lifting_the_trigger_verify_names_the_event(
    db, database_url, session, history
):
    target = chain_events(session, case_chain(history.id))[2]  # the first review.recorded
    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET data = data WHERE id = :id"), {"id": target.id})

    forge_data(db, target.id, recommendation="reject")

    result = ews(database_url, "audit", "verify")
    assert result.returncode == 1, result.stdout + result.stderr
    broken = [line for line in result.stdout.splitlines() if line.startswith("BROKEN")]
    assert broken == [
        f"BROKEN chain {case_chain(history.id)} at position 3 (event {target.id}): "
        "hash does not match the event's content"
    ]


def test_exported_jsonl_verifies_and_one_changed_byte_breaks_it(database_url, session, history, tmp_path):
    export = tmp_path / "audit.jsonl"
    result = ews(database_url, "audit", "export", "--format", "jsonl", "--output", str(export))
    assert result.returncode == 0, result.stderr
    assert len(export.read_bytes().splitlines()) == count_events(session)

    verified = ews(database_url, "audit", "verify", str(export))
    assert verified.returncode == 0, verified.stdout
    assert run_verifier_script(export).returncode == 0

    # One byte inside `data` of the case's first event: "EWS6-…" becomes "FWS6-…" (the personal values
    # are commitments in the export; a commitment changed by a byte breaks the hash just the same).
    lines = export.read_bytes().splitlines(keepends=True)
    [index] = [
        i
        for i, line in enumerate(lines)
        if (json.loads(line)["chain"], json.loads(line)["position"]) == (case_chain(history.id), 1)
    ]
    at = lines[index].index(b'"reference":"EWS') + len(b'"reference":"')
    lines[index] = lines[index][:at] + b"F" + lines[index][at + 1 :]
    export.write_bytes(b"".join(lines))

    tampered = ews(database_url, "audit", "verify", str(export))
    assert tampered.returncode == 1
    assert f"BROKEN chain {case_chain(history.id)} at position 1 " in tampered.stdout
    script = run_verifier_script(export)
    assert script.returncode == 1
    assert f"BROKEN chain {case_chain(history.id)} at position 1 " in script.stdout


def test_csv_export_has_a_header_and_one_row_per_event_that_rehashes(
    database_url, session, history, tmp_path
):
    export = tmp_path / "audit.csv"
    result = ews(database_url, "audit", "export", "--format", "csv", "--output", str(export))
    assert result.returncode == 0, result.stderr

    with export.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS
    events = session.scalars(select(AuditEvent).order_by(AuditEvent.chain, AuditEvent.position)).all()
    assert [int(row[0]) for row in rows[1:]] == [e.id for e in events]

    # docs/audit.md: empty cells are null, three columns are integers, `data` is JSON text.
    for row in rows[1:]:
        record = {
            name: (value if value != "" else None) for name, value in zip(CSV_COLUMNS, row, strict=True)
        }
        for name in ("position", "case_id", "cohort"):
            record[name] = None if record[name] is None else int(record[name])
        record["data"] = json.loads(record["data"])
        assert chain_hash(record["prev_hash"], record) == record["hash"]
