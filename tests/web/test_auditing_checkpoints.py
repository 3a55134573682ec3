"""`/pruefung/pruefpunkte`: the latest checkpoint with its signatures, cosignature and time stamp; a checkpoint
the auditor holds, pasted or uploaded, checked against the log; the auditor's bundle as a download."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from ews_cases.audit import notes
from ews_cases.models import AuditCheckpoint
from ews_cases.services.checkpoints import write_checkpoint
from ews_cases.services.cosignatures import add_cosignatures, checkpoint_text, register_cosigner
from testkit.factories import ATTENDORN, SYSTEM
from tests.audit.insider import database_owner, drop_checkpoints_after, rebuild_log
from tests.audit.test_insider import change_review
from tests.web.helpers import csrf_token, login
from workflows import State

PASSWORD = "Pruefpunkt-Passwort-7"
PAGE = "/pruefung/pruefpunkte"
CONSISTENT = "Konsistent mit dem Prüfpunkt, den Sie halten"
NOT_CONSISTENT = "Nicht konsistent mit dem Prüfpunkt, den Sie halten"


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def world(session, factory, settings):
    """A reviewed case and a checkpoint of it, cosigned by an auditor's key; then more events."""
    cohort = factory.cohort()
    case = factory.case(cohort, state=State.REVIEWED)
    auditor = factory.user("auditor", password=PASSWORD)
    session.commit()
    checkpoint = write_checkpoint(session, settings).checkpoint
    cosigner = notes.Signer.generate("lrh.example/pruefer", notes.COSIGNATURE_V1)
    register_cosigner(session, SYSTEM, cosigner.verifier.text)
    moment = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    line = notes.cosign(cosigner, checkpoint_text(checkpoint), int(moment.timestamp()))
    add_cosignatures(session, SYSTEM, checkpoint, line.line, now=moment)
    session.commit()
    factory.case(cohort, ATTENDORN, state=State.SUBMITTED)
    session.commit()
    return {"auditor": auditor, "note": checkpoint.note, "case": case, "cosigner": cosigner}


def check(client, data: dict, files: dict | None = None):
    form = {"csrf_token": csrf_token(client.get(PAGE)), **data}
    if files:
        form.update(files)
    return client.post(PAGE, data=form, content_type="multipart/form-data")


def test_the_page_shows_the_latest_checkpoint_and_its_signatures(client, session, settings, world):
    login(client, world["auditor"].email, PASSWORD)
    html = client.get(PAGE).get_data(as_text=True)
    size = session.query(AuditCheckpoint).one().tree_size
    assert f'data-size="{size}"' in html
    signer = notes.parse_note(world["note"]).signatures[0]
    assert f"{signer.name}+{signer.key_id_hex}" in html
    assert html.count('data-verified="true"') == 2  # the log's signature and the cosignature
    assert "Gegenzeichnung (2027-01-04T09:00:00.000000Z)" in html
    assert "Kein Zeitstempel." in html
    assert 'href="/pruefung/pruefpaket.zip"' in html
    assert 'href="/pruefung/pruefpunkte"' in html  # in the navigation


def stored(session) -> tuple[int, ...]:
    """Rows an auditor's check might add: events, leaves, checkpoints, cosignatures."""
    session.rollback()
    tables = (
        "audit_events",
        "audit_log_leaves",
        "audit_checkpoints",
        "audit_cosignatures",
        "outbox_messages",
    )
    return tuple(session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables)


def test_a_held_checkpoint_pasted_or_uploaded_is_consistent(client, session, world):
    login(client, world["auditor"].email, PASSWORD)
    before = stored(session)
    pasted = check(client, {"note": world["note"]})
    assert pasted.status_code == 200
    html = pasted.get_data(as_text=True)
    assert CONSISTENT in html
    assert 'data-consistent="true"' in html
    assert "Geprüft mit den veröffentlichten Schlüsseln dieser Installation" in html

    uploaded = check(client, {}, {"upload": (io.BytesIO(world["note"].encode()), "pruefpunkt.txt")})
    assert CONSISTENT in uploaded.get_data(as_text=True)

    # With only the auditor's own cosigning key: the cosigned checkpoint in the database counts, the held
    # note (without the cosignature line) is signed by no key the auditor gave.
    own = check(client, {"note": world["note"], "keys": world["cosigner"].verifier.text})
    html = own.get_data(as_text=True)
    assert NOT_CONSISTENT in html
    assert "Keine Signatur eines bekannten Schlüssels ist gültig" in html
    assert "Geprüft mit Ihren Schlüsseln: lrh.example/pruefer+" in html
    assert stored(session) == before  # checking stores nothing


def test_a_rewritten_history_is_not_consistent_and_the_event_is_named(client, session, db, world):
    login(client, world["auditor"].email, PASSWORD)
    history = type("History", (), {"case_id": world["case"].id, "target": _first_review(session, world)})
    change_review(db, history)
    with database_owner(db) as owner:
        owner.forget_log()
    rebuild_log(db)
    drop_checkpoints_after(db, 0)

    answer = check(client, {"note": world["note"]})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert NOT_CONSISTENT in html
    assert "Die ersten " in html
    assert "haben nicht mehr den Hash, den er signiert" in html
    assert "Die erste Abweichung liegt zwischen Eintrag 0" in html


def test_bad_input_is_refused(client, world):
    login(client, world["auditor"].email, PASSWORD)
    assert check(client, {}).status_code == 422
    refused = check(client, {"note": world["note"], "keys": "/etc/passwd"})
    assert refused.status_code == 422
    assert "Kein gültiger Prüfschlüssel" in refused.get_data(as_text=True)
    garbled = check(client, {"note": "kein Prüfpunkt"})
    assert garbled.status_code == 200
    assert "kein lesbarer signierter Prüfpunkt" in garbled.get_data(as_text=True)


def test_the_bundle_downloads_as_a_zip(client, world):
    login(client, world["auditor"].email, PASSWORD)
    answer = client.get("/pruefung/pruefpaket.zip")
    assert answer.status_code == 200
    assert answer.mimetype == "application/zip"
    assert answer.headers["Content-Disposition"].startswith("attachment; filename=ews-audit-bundle-")
    with zipfile.ZipFile(io.BytesIO(answer.get_data())) as archive:
        names = {name.split("/", 1)[1] for name in archive.namelist()}
    assert {"verify_bundle.py", "README.md", "audit.jsonl", "leaves.csv", "checkpoints.jsonl"} <= names


@pytest.mark.parametrize("role", ["applicant", "reviewer"])
def test_other_roles_may_not(client, session, factory, role):
    user = factory.user(role, "05966008" if role == "applicant" else None, password=PASSWORD)
    session.commit()
    login(client, user.email, PASSWORD)
    assert client.get(PAGE).status_code == 403
    assert client.get("/pruefung/pruefpaket.zip").status_code == 403


def _first_review(session, world) -> int:
    from sqlalchemy import select

    from ews_cases.models import AuditEvent, case_chain

    event = session.scalar(
        select(AuditEvent.id)
        .where(AuditEvent.chain == case_chain(world["case"].id), AuditEvent.action == "review.recorded")
        .order_by(AuditEvent.position)
        .limit(1)
    )
    session.commit()
    return event
