"""Signed checkpoints (services/checkpoints.py): written when the log has grown, verifiable with the published
keys, consistent with each other, refused over a changed log, mailed once per checkpoint to subscribers."""

from __future__ import annotations

import base64
import threading

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from ews_cases.audit import log, merkle, notes, signing
from ews_cases.db.engine import Database
from ews_cases.errors import Conflict, NotFound, ValidationFailed
from ews_cases.models import AuditCheckpoint, AuditEvent, OutboxMessage, User
from ews_cases.services import checkpoints
from ews_cases.services.actors import actor_for
from ews_cases.settings import Settings
from testkit.factories import SYSTEM, Factory
from workflows import State

ORIGIN = "ews.test/audit-log"


@pytest.fixture
def app_settings(app) -> Settings:
    return app.extensions["ews"].settings


def with_key(settings: Settings, signer: notes.Signer, *previous: notes.Signer) -> Settings:
    return settings.model_copy(
        update={
            "audit_signing_key": signer.private_text,
            "audit_previous_signing_keys": ",".join(p.private_text for p in previous) or None,
        }
    )


def event_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEvent))


def test_a_checkpoint_signs_the_head_of_the_log(session: Session, factory: Factory, app_settings):
    factory.case(state=State.SUBMITTED)
    session.commit()
    events = event_count(session)
    written = checkpoints.write_checkpoint(session, app_settings)
    session.commit()
    assert written is not None
    checkpoint = written.checkpoint
    head = log.head(session)
    assert checkpoint.tree_size == head.size == events
    assert checkpoint.origin == ORIGIN
    body = f"{ORIGIN}\n{events}\n{base64.b64encode(head.root).decode()}\n"
    key = signing.current_signer(app_settings).verifier
    opened = notes.open_note(checkpoint.note, [key])
    assert opened.text == body
    assert checkpoint.note.startswith(body + "\n— ews.test/audit-log ")
    assert notes.parse_checkpoint(opened.text).root == head.root == bytes.fromhex(checkpoint.root)
    # Writing the checkpoint appended nothing to the log it signs.
    assert event_count(session) == events
    assert [k["verifier_key"] for k in checkpoints.published_keys(session)] == [key.text]


def test_nothing_is_written_while_the_log_has_not_grown(session: Session, factory: Factory, app_settings):
    assert checkpoints.write_checkpoint(session, app_settings) is None  # the empty log
    factory.case()
    session.commit()
    first = checkpoints.write_checkpoint(session, app_settings)
    session.commit()
    assert first is not None
    assert checkpoints.write_checkpoint(session, app_settings) is None
    factory.case(state=State.SUBMITTED)
    session.commit()
    second = checkpoints.write_checkpoint(session, app_settings)
    session.commit()
    assert second is not None
    assert second.checkpoint.tree_size > first.checkpoint.tree_size
    assert session.scalar(select(func.count()).select_from(AuditCheckpoint)) == 2

    # The older checkpoint is a prefix of the newer one: the consistency proof verifies against both notes.
    old = notes.parse_checkpoint(notes.parse_note(first.checkpoint.note).text)
    new = notes.parse_checkpoint(notes.parse_note(second.checkpoint.note).text)
    answer = checkpoints.consistency_proof(session, old.size)
    assert (answer["old"], answer["new"]) == (old.size, new.size)
    assert answer["old_checkpoint"] == first.checkpoint.note
    assert answer["new_checkpoint"] == second.checkpoint.note
    proof = [base64.b64decode(h) for h in answer["proof"]]
    assert merkle.verify_consistency(old.size, new.size, old.root, new.root, proof)


def test_inclusion_proofs_against_the_latest_checkpoint(session: Session, factory: Factory, app_settings):
    factory.case(state=State.SUBMITTED)
    session.commit()
    written = checkpoints.write_checkpoint(session, app_settings)
    session.commit()
    signed = notes.parse_checkpoint(notes.parse_note(written.checkpoint.note).text)
    for event_id, event_hash in session.execute(select(AuditEvent.id, AuditEvent.hash)):
        answer = checkpoints.inclusion_proof(session, event_id)
        assert answer["tree_size"] == signed.size
        assert answer["checkpoint"] == written.checkpoint.note
        assert base64.b64decode(answer["root"]) == signed.root
        leaf = merkle.leaf_hash(event_hash)
        assert base64.b64decode(answer["leaf_hash"]) == leaf
        proof = [base64.b64decode(h) for h in answer["proof"]]
        assert merkle.verify_inclusion(leaf, answer["leaf_index"], signed.size, proof, signed.root)

    with pytest.raises(NotFound):
        checkpoints.inclusion_proof(session, 10**9)
    late = factory.case()
    session.commit()
    late_event = session.scalar(select(func.max(AuditEvent.id)))
    with pytest.raises(Conflict, match="noch nicht im Merkle-Protokoll"):
        checkpoints.inclusion_proof(session, late_event)
    log.integrate(session)
    session.commit()
    with pytest.raises(Conflict, match="nach der Größe"):
        checkpoints.inclusion_proof(session, late_event)  # in the log, not in the checkpoint's tree
    assert checkpoints.inclusion_proof(session, late_event, log.head(session).size)["checkpoint"] is None
    with pytest.raises(ValidationFailed):
        checkpoints.inclusion_proof(session, late_event, log.head(session).size + 1)
    with pytest.raises(ValidationFailed):
        checkpoints.consistency_proof(session, signed.size + 1, signed.size)
    assert late.id


def test_key_rotation_two_signatures_and_the_published_keys(session: Session, factory: Factory, app_settings):
    old, new = notes.Signer.generate(ORIGIN), notes.Signer.generate(ORIGIN)
    factory.case()
    session.commit()
    first = checkpoints.write_checkpoint(session, with_key(app_settings, old))
    session.commit()
    factory.case()
    session.commit()
    both = checkpoints.write_checkpoint(session, with_key(app_settings, new, old))
    session.commit()
    note = notes.parse_note(both.checkpoint.note)
    assert [(s.name, s.key_id) for s in note.signatures] == [(ORIGIN, new.key_id), (ORIGIN, old.key_id)]
    assert notes.open_note(both.checkpoint.note, [old.verifier]).verified_keys == (old.verifier,)
    assert notes.open_note(both.checkpoint.note, [new.verifier]).verified_keys == (new.verifier,)
    keys = {k["key_id"]: k for k in checkpoints.published_keys(session)}
    assert keys[old.verifier.key_id_hex]["valid_until"] is None  # it signed the latest checkpoint too
    assert keys[old.verifier.key_id_hex]["valid_from"] == first.checkpoint.created_at

    factory.case()
    session.commit()
    checkpoints.write_checkpoint(session, with_key(app_settings, new))
    session.commit()
    keys = {k["key_id"]: k for k in checkpoints.published_keys(session)}
    assert keys[old.verifier.key_id_hex]["valid_until"] == both.checkpoint.created_at
    assert keys[new.verifier.key_id_hex]["valid_until"] is None
    assert keys[new.verifier.key_id_hex]["verifier_key"] == new.verifier.text
    assert keys[new.verifier.key_id_hex]["public_key"] == base64.b64encode(new.verifier.public_key).decode()


def lift_triggers_and_run(db: Database, table: str, statement: str, **params: object) -> None:
    """What someone with the database's owner rights can do: change the log past its triggers."""
    with db.engine.begin() as conn:
        if db.is_sqlite:
            triggers = conn.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"),
                {"t": table},
            ).all()
            for name, _sql in triggers:
                conn.execute(text(f"DROP TRIGGER {name}"))
            conn.execute(text(statement), params)
            for _name, sql in triggers:
                conn.execute(text(sql))
        else:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text(statement), params)


def test_no_checkpoint_is_signed_over_a_changed_log(
    db: Database, session: Session, factory: Factory, app_settings
):
    factory.case(state=State.SUBMITTED)
    session.commit()
    first = checkpoints.write_checkpoint(session, app_settings)
    session.commit()
    # A rewrite of the first events that keeps the stored tree consistent changes every node above them.
    lift_triggers_and_run(
        db, "audit_log_nodes", 'UPDATE audit_log_nodes SET hash = :h WHERE "index" = 0', h=bytes(32)
    )
    factory.case()
    session.commit()
    with pytest.raises(checkpoints.LogChanged, match=f"Prüfpunkt {first.checkpoint.id}"):
        checkpoints.write_checkpoint(session, app_settings)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(AuditCheckpoint)) == 1


@pytest.mark.parametrize("place", [0, 40], ids=["key ID", "signature"])
def test_no_checkpoint_is_signed_after_a_changed_stored_checkpoint(
    db: Database, session: Session, factory: Factory, app_settings, place: int
):
    factory.case()
    session.commit()
    first = checkpoints.write_checkpoint(session, app_settings).checkpoint
    session.commit()
    # The stored note's signature no longer matches (someone edited the row past its triggers).
    body, _, signature = first.note.rpartition(" ")
    flipped = "A" if signature[place] != "A" else "B"
    forged = f"{body} {signature[:place]}{flipped}{signature[place + 1 :]}"
    lift_triggers_and_run(db, "audit_checkpoints", "UPDATE audit_checkpoints SET note = :n", n=forged)
    factory.case()
    session.commit()
    session.expire_all()
    with pytest.raises(checkpoints.LogChanged):
        checkpoints.write_checkpoint(session, app_settings)


def test_production_without_a_key_signs_and_integrates_nothing(session: Session, factory: Factory, tmp_path):
    factory.case()
    session.commit()
    production = Settings(env="production", data_dir=tmp_path, secret_key="p" * 40, database_url="sqlite://")
    with pytest.raises(signing.SigningKeyError, match="EWS_AUDIT_SIGNING_KEY is not set"):
        checkpoints.write_checkpoint(session, production)
    assert log.head(session).size == 0
    assert session.scalar(select(func.count()).select_from(AuditCheckpoint)) == 0


def test_the_checkpoints_table_is_append_only(db: Database, session: Session, factory: Factory, app_settings):
    factory.case()
    session.commit()
    checkpoints.write_checkpoint(session, app_settings)
    session.commit()
    for statement in ("UPDATE audit_checkpoints SET note = note", "DELETE FROM audit_checkpoints"):
        with (
            pytest.raises(DatabaseError, match="audit_checkpoints is append-only"),
            db.engine.begin() as conn,
        ):
            conn.execute(text(statement))
    if not db.is_sqlite:
        with pytest.raises(DatabaseError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text("TRUNCATE audit_checkpoints CASCADE"))


# -- the checkpoint mail -----------------------------------------------------------------------------------


def auditors(session: Session, factory: Factory) -> tuple[User, User, User]:
    """A subscribed auditor, one who is not, and a subscribed one who was deactivated."""
    reader, other, gone = factory.user("auditor"), factory.user("auditor"), factory.user("auditor")
    checkpoints.set_checkpoint_mail(session, actor_for(reader), reader, True)
    checkpoints.set_checkpoint_mail(session, actor_for(gone), gone, True)
    gone.active = False
    session.commit()
    return reader, other, gone


def test_each_new_checkpoint_is_mailed_to_subscribed_auditors(
    session: Session, factory: Factory, app_settings
):
    reader, _other, _gone = auditors(session, factory)
    factory.case()
    session.commit()
    written = checkpoints.write_checkpoint(session, app_settings)
    session.commit()
    assert written.mailed == 1
    (message,) = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "audit_checkpoint")).all()
    assert message.recipient == reader.email
    assert message.subject == f"Neuer Prüfpunkt des Prüfprotokolls: {written.checkpoint.tree_size} Einträge"
    assert f"\n----------\n{written.checkpoint.note}----------\n" in message.body  # verbatim
    (attachment,) = message.attachments
    assert attachment["filename"] == f"pruefpunkt-{written.checkpoint.tree_size}.txt"
    assert base64.b64decode(attachment["content_b64"]).decode() == written.checkpoint.note
    assert message.dedup_key == f"audit_checkpoint:{written.checkpoint.id}:{reader.id}"


def test_two_runs_at_once_write_one_checkpoint_and_one_mail(
    db: Database, session: Session, factory: Factory, app, app_settings
):
    reader, _other, _gone = auditors(session, factory)
    factory.case(state=State.SUBMITTED)
    session.commit()
    barrier = threading.Barrier(2)
    results: list[object] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with app.app_context():
                barrier.wait()
                with db.transaction() as own:
                    written = checkpoints.write_checkpoint(own, app_settings)
                    results.append(None if written is None else written.checkpoint.tree_size)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(results, key=lambda r: r is None) == [event_count(session), None]
    assert session.scalar(select(func.count()).select_from(AuditCheckpoint)) == 1
    recipients = session.scalars(
        select(OutboxMessage.recipient).where(OutboxMessage.kind == "audit_checkpoint")
    ).all()
    assert recipients == [reader.email]


def test_subscribing_is_audited_once_per_change_and_only_for_auditors(session: Session, factory: Factory):
    auditor, coordinator = factory.user("auditor"), factory.user("coordinator")
    session.commit()
    before = event_count(session)
    assert checkpoints.set_checkpoint_mail(session, actor_for(auditor), auditor, True) is True
    assert checkpoints.set_checkpoint_mail(session, actor_for(auditor), auditor, True) is False
    assert auditor.checkpoint_mail_since is not None
    assert checkpoints.set_checkpoint_mail(session, SYSTEM, auditor, False) is True
    assert auditor.checkpoint_mail_since is None
    events = session.scalars(select(AuditEvent).where(AuditEvent.id > 0).order_by(AuditEvent.id)).all()[
        before:
    ]
    assert [(e.action, e.data) for e in events] == [
        ("user.checkpoint_mail", {"user": auditor.id, "subscribed": True}),
        ("user.checkpoint_mail", {"user": auditor.id, "subscribed": False}),
    ]
    with pytest.raises(ValidationFailed):
        checkpoints.set_checkpoint_mail(session, actor_for(coordinator), coordinator, True)
