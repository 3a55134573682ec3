"""Personal data that can be erased without breaking the proof (issue 17, must-holds 1 and 2; legal hold)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text, update

from ews_cases.audit.chain import verify_database
from ews_cases.audit.personal import commitments
from ews_cases.audit.queries import case_history, held_values, resolved_data, with_personal
from ews_cases.errors import Conflict
from ews_cases.models import AuditEvent, Case, Certificate, PersonalValue
from ews_cases.services.figures import figures_of
from ews_cases.services.privacy import erase_case, lift_legal_hold, set_legal_hold
from ews_cases.settings import current_settings
from testkit.factories import ATTENDORN, complete_content
from tests.conftest import BACKEND
from tests.test_cli_audit import ews
from tests.web.helpers import login
from workflows import State

TAG = "Zqx"  # makes every name, address and phone of the erased case unique in the whole database


def full_dump(session) -> str:
    """Every row of every table as text (SQLite: `iterdump`; PostgreSQL: SELECT * of each table), plus the
    bytes of every stored file."""
    session.commit()
    engine = session.get_bind()
    if BACKEND == "postgresql":
        names = inspect(engine).get_table_names()
        with engine.connect() as conn:
            dump = "\n".join(
                repr(tuple(row)) for name in names for row in conn.execute(text(f'SELECT * FROM "{name}"'))
            )
    else:
        with sqlite3.connect(engine.url.database) as raw:
            dump = "\n".join(raw.iterdump())
    files = [p for p in Path(current_settings().data_dir).rglob("*") if p.is_file()]
    return dump + "\n".join(p.read_bytes().decode("latin-1") for p in files)


def erased_strings() -> list[str]:
    content = complete_content(2, TAG)
    return [
        content.contact_name,
        content.contact_email,
        *(m.name for m in content.team),
        *(m.email for m in content.team),
    ]


@pytest.fixture
def certified(session, factory):
    """A certified case whose people are all tagged (and its phone unique), beside an untouched case."""
    cohort = factory.cohort()
    content = complete_content(cohort.team_size, TAG)
    content = dataclasses.replace(content, contact_phone="0999 424242")
    case = factory.case(cohort, content=content, state=State.CERTIFIED)
    factory.case(cohort, ATTENDORN, state=State.SUBMITTED)
    session.commit()
    return case


def test_after_erasing_a_case_no_dump_holds_its_people_and_every_chain_verifies(
    session, factory, certified, database_url
):
    cohort = certified.cohort
    before = figures_of(session, cohort)
    dump = full_dump(session)
    assert all(s in dump for s in [*erased_strings(), "0999 424242"])  # the check can fail
    pdfs = [
        Path(c.pdf_path)
        for c in session.scalars(select(Certificate).where(Certificate.case_id == certified.id))
    ]
    assert pdfs
    assert all(p.is_file() for p in pdfs)

    erasure = erase_case(session, certified, factory.coordinator(), reason="Antrag vom 3.2.")
    session.commit()
    assert erasure is not None
    assert erasure.values > 10

    dump = full_dump(session)
    for erased in [*erased_strings(), "0999 424242"]:
        assert erased not in dump, erased
    assert not any(p.exists() for p in pdfs)
    # The skeleton: municipality, cohort, state, serials, scores and counts stay; statistics unchanged.
    session.expire_all()
    case = session.get(Case, certified.id)
    assert (case.municipality_ags, case.state, len(case.team)) == (certified.municipality_ags, "certified", 2)
    assert figures_of(session, cohort) == before
    assert session.scalars(select(Certificate.serial).where(Certificate.case_id == case.id)).all()

    assert verify_database(session).ok
    result = ews(database_url, "audit", "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    last = session.scalars(
        select(AuditEvent).where(AuditEvent.case_id == case.id).order_by(AuditEvent.position.desc())
    ).first()
    assert last.action == "privacy.erased"
    assert resolved_data(session, last.data)["category"] == "request"
    assert erase_case(session, case, factory.coordinator()) is None  # once only


def test_the_timeline_shows_the_erasure_and_gelöscht_am(session, factory, certified, app):
    erase_case(session, certified, factory.coordinator(), reason="Antrag vom 3.2.")
    auditor = factory.user("auditor", password="Ein-langes-Testpasswort-42")
    session.commit()
    auditor_client = app.test_client()
    login(auditor_client, auditor.email, "Ein-langes-Testpasswort-42")
    page = auditor_client.get(f"/pruefung/faelle/{certified.id}").get_data(as_text=True)
    assert "gelöscht am" in page
    assert "(Antrag vom 3.2.)" in page
    assert "Personenbezogene Daten gelöscht" in page
    assert all(s not in page for s in erased_strings())


def _value_of_shown(session, event: AuditEvent) -> tuple[dict, PersonalValue]:
    [commitment, *_rest] = list(commitments(event.data))
    return commitment, session.get(PersonalValue, commitment["$pd"])


def test_a_shown_value_matches_its_commitment_and_a_changed_value_is_detected(session, certified):
    created = session.scalar(
        select(AuditEvent).where(AuditEvent.case_id == certified.id, AuditEvent.action == "case.created")
    )
    # What the API's history shows (GET /api/v1/cases/<id>/history: the records with their `personal` map).
    shown = with_personal(session, case_history(session, certified.id))[0]
    contact = shown["data"]["contact"]["name"]
    value = shown["personal"][str(contact["$pd"])]
    assert value["value"] == f"Erika Beispiel{TAG}"
    # docs/audit.md §7: SHA-256( salt bytes ‖ UTF-8 canonical JSON of the value )
    canonical = json.dumps(value["value"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(bytes.fromhex(value["salt"]) + canonical.encode()).hexdigest() == contact["sha256"]
    assert held_values(session, [created.data])[contact["$pd"]].matches(contact["sha256"])

    session.execute(
        update(PersonalValue).where(PersonalValue.id == contact["$pd"]).values(value='"Erika Andere"')
    )
    session.commit()
    verification = verify_database(session)
    assert not verification.ok
    [brk] = verification.breaks
    assert (brk.chain, brk.position) == (f"case:{certified.id}", 1)
    assert brk.problem == f"personal value {contact['$pd']} does not match its commitment"


def test_legal_hold_stops_erasure_until_lifted(session, factory, certified):
    coordinator = factory.coordinator()
    set_legal_hold(session, certified, coordinator, "Prüfung durch den Fördermittelgeber")
    session.commit()
    with pytest.raises(Conflict, match="Aufbewahrungssperre"):
        erase_case(session, certified, coordinator)
    session.rollback()
    assert session.get(Case, certified.id).contact_name == f"Erika Beispiel{TAG}"
    lift_legal_hold(session, certified, coordinator, "Prüfung abgeschlossen")
    assert erase_case(session, certified, coordinator) is not None
    session.commit()
    actions = session.scalars(select(AuditEvent.action).where(AuditEvent.case_id == certified.id)).all()
    assert actions[-3:] == ["case.legal_hold_set", "case.legal_hold_lifted", "privacy.erased"]
    assert verify_database(session).ok
