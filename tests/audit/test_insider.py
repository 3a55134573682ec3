"""Issue 18, must-hold 2: the insider test, on SQLite and on PostgreSQL (EWS_TEST_DATABASE=postgresql).

The auditor keeps the checkpoints as they are signed (by mail, from the API). Then someone who owns the
database (`tests/audit/insider.py`) lifts the triggers and rewrites history so that every hash chain verifies
again. `ews audit verify` runs as its own process against the test database:

- The hash chains alone do not notice (`OK: all chains verify`, exactly as before the Merkle log). If the
  insider leaves the log's own tables alone, the log's stored leaves already name the event; an insider who
  rebuilds those too leaves nothing in the database to compare with, and verification without a checkpoint
  passes, as it did before issue 18: only a checkpoint kept outside can tell.
- With the held checkpoints verification exits 1 and names the first event that differs: exactly, while a
  held checkpoint is one event before it and the next just after it; otherwise the range of leaves between
  the last checkpoint that still matches and the first that does not (docs/audit.md §9).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from ews_cases.audit import log, notes
from ews_cases.audit.signing import current_signer
from ews_cases.models import AuditEvent, case_chain
from ews_cases.services.checkpoints import write_checkpoint
from ews_cases.services.reviews import record_review
from ews_cases.services.users import issue_token
from ews_cases.settings import Settings
from testkit.factories import ATTENDORN, SYSTEM
from tests.audit.insider import (
    chain_records,
    database_owner,
    drop_checkpoints_after,
    ews,
    rebuild_log,
    with_key,
)
from workflows import State

SCORES = {"need": 4, "strategy": 3, "leadership": 5, "capacity": 4, "network": 3}
CHAINS_OK = "OK: all chains verify"
LOG_OK = "OK: the log verifies"


@dataclass
class History:
    case_id: int
    target: int  # the event id of the case's first review.recorded
    later: list[int]  # the case's events after it: the other reviews and the transition they caused
    held: dict[str, Path]  # checkpoint files the auditor kept, oldest first
    sizes: dict[str, int]
    all_held: Path  # every checkpoint in one file
    last: str  # the last leaf as verification names it: the other case's review

    def leaf(self, session, event_id: int) -> int:
        index = log.leaf_of_event(session, event_id)
        session.commit()
        assert index is not None
        return index


def sign(session, settings: Settings) -> str:
    written = write_checkpoint(session, settings)
    session.commit()
    assert written is not None
    return written.checkpoint.note


@pytest.fixture
def history(session, factory, settings, tmp_path) -> History:
    """Two cases and their reviews, with a checkpoint after each step, as an auditor would hold them."""
    cohort = factory.cohort()
    case = factory.case(cohort, state=State.SUBMITTED)
    other = factory.case(cohort, ATTENDORN, state=State.SUBMITTED)
    reviewers = [factory.user("reviewer") for _ in range(cohort.required_reviews)]
    session.commit()
    signed = {"before": sign(session, settings)}
    record_review(session, case, reviewers[0], recommendation="admit", scores=SCORES)
    session.commit()
    signed["review"] = sign(session, settings)
    for reviewer in reviewers[1:]:
        record_review(session, case, reviewer, recommendation="admit", scores=SCORES)
    session.commit()
    assert case.state == State.REVIEWED.value
    signed["reviewed"] = sign(session, settings)
    record_review(session, other, reviewers[0], recommendation="waitlist", scores=SCORES)
    session.commit()
    signed["later"] = sign(session, settings)

    events = session.execute(
        select(AuditEvent.id, AuditEvent.action)
        .where(AuditEvent.chain == case_chain(case.id))
        .order_by(AuditEvent.position)
    ).all()
    session.commit()
    target = next(i for i, (_, action) in enumerate(events) if action == "review.recorded")
    held = {}
    for name, note in signed.items():
        held[name] = tmp_path / f"held-{name}.txt"
        held[name].write_text(note, encoding="utf-8")
    all_held = tmp_path / "held-all.txt"
    all_held.write_text("\n".join(signed.values()), encoding="utf-8")
    sizes = {name: notes.parse_checkpoint(notes.parse_note(note).text).size for name, note in signed.items()}
    last_id, last_position = session.execute(
        select(AuditEvent.id, AuditEvent.position).order_by(AuditEvent.id.desc()).limit(1)
    ).one()
    session.commit()
    last = f"leaf {sizes['later'] - 1} (event {last_id}, chain case:{other.id}, position {last_position})"
    later = [e for e, _ in events[target + 1 :]]
    return History(case.id, events[target][0], later, held, sizes, all_held, last)


def change_review(db, history: History) -> int:
    """The insider turns the first review's "admit" into "reject" and recomputes the case's chain and head."""
    records = chain_records(db, case_chain(history.case_id))
    [target] = [r for r in records if r["sequence"] == history.target]
    assert target["data"]["recommendation"] == "admit"
    target["data"]["recommendation"] = "reject"
    with database_owner(db) as owner:
        owner.rechain(case_chain(history.case_id), records)
    return target["position"]


def cut_case(db, history: History) -> None:
    """The insider deletes the case's events after its first review and moves the chain's head back."""
    records = [
        r for r in chain_records(db, case_chain(history.case_id)) if r["sequence"] not in history.later
    ]
    assert records[-1]["sequence"] == history.target
    with database_owner(db) as owner:
        for event_id in history.later:
            owner.execute("DELETE FROM audit_events WHERE id = :id", {"id": event_id})
        owner.rechain(case_chain(history.case_id), records)  # unchanged hashes; the head moves back


def rewrite_log(db, keep: int) -> None:
    """The insider also rebuilds the Merkle log over the rewritten events and deletes the stored
    checkpoints that no longer match (it cannot sign new ones without the key)."""
    with database_owner(db) as owner:
        owner.forget_log()
    rebuild_log(db)
    drop_checkpoints_after(db, keep)


def now(named: str) -> str:
    """A leaf as verification names it when it can only say which event is there now."""
    return named.replace(" (event ", " (now event ", 1)


def first_difference(output: str) -> str:
    [line] = [line for line in output.splitlines() if line.startswith("FIRST DIFFERENCE: ")]
    return line.removeprefix("FIRST DIFFERENCE: ")


def test_an_untouched_log_is_consistent_with_every_held_checkpoint(database_url, settings, history):
    plain = ews(database_url, settings, "audit", "verify")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert CHAINS_OK in plain.stdout
    assert "checkpoints in the database: 4 of 4 consistent with the log" in plain.stdout

    held = ews(database_url, settings, "audit", "verify", "--checkpoint", str(history.all_held))
    assert held.returncode == 0, held.stdout + held.stderr
    consistent = [line for line in held.stdout.splitlines() if line.endswith("consistent with the log")]
    assert len(consistent) == 5  # the four held ones and the database's
    assert "OK: the log verifies and is consistent with every checkpoint" in held.stdout


def test_a_changed_review_with_recomputed_chain_is_named_by_the_log(
    db, session, database_url, settings, history
):
    position = change_review(db, history)
    leaf = history.leaf(session, history.target)
    named = f"leaf {leaf} (event {history.target}, chain case:{history.case_id}, position {position})"

    plain = ews(database_url, settings, "audit", "verify")
    assert CHAINS_OK in plain.stdout  # the chains alone cannot tell, as before the log
    assert plain.returncode == 1, plain.stdout + plain.stderr
    assert f"BROKEN log: {named}: the stored leaf hash differs from the event's content" in plain.stdout
    assert first_difference(plain.stdout) == named

    held = ews(database_url, settings, "audit", "verify", "--checkpoint", str(history.held["later"]))
    assert held.returncode == 1
    assert (
        f"BROKEN checkpoint {history.held['later']}: the log's first {history.sizes['later']} leaves"
        in held.stdout
    )
    assert first_difference(held.stdout) == named


def test_a_changed_review_with_rebuilt_log_passes_alone_and_fails_against_held_checkpoints(
    db, session, database_url, settings, history
):
    position = change_review(db, history)
    rewrite_log(db, keep=history.sizes["before"])
    leaf = history.leaf(session, history.target)
    assert leaf == history.sizes["before"]  # the review was the only event between two checkpoints
    named = f"leaf {leaf} (event {history.target}, chain case:{history.case_id}, position {position})"

    plain = ews(database_url, settings, "audit", "verify")
    assert plain.returncode == 0, plain.stdout + plain.stderr  # nothing inside the database can tell
    assert CHAINS_OK in plain.stdout
    assert LOG_OK in plain.stdout

    held = ews(database_url, settings, "audit", "verify", "--checkpoint", str(history.all_held))
    assert held.returncode == 1, held.stdout
    assert f"checkpoint {history.all_held} #1: {history.sizes['before']} leaves" in held.stdout
    for number in (2, 3, 4):
        assert f"BROKEN checkpoint {history.all_held} #{number}: the log's first" in held.stdout
    assert first_difference(held.stdout) == f"{now(named)}, not the event the checkpoints signed there"

    # One held checkpoint bounds the difference by its own size and by the stored checkpoint the insider
    # could leave (it still matches): the range starts there, at the changed event.
    alone = ews(database_url, settings, "audit", "verify", "--checkpoint", str(history.held["later"]))
    assert alone.returncode == 1
    assert first_difference(alone.stdout) == f"between {now(named)} and {now(history.last)}"


def test_cut_events_with_head_moved_back_are_named_by_the_log(db, session, database_url, settings, history):
    first_cut = history.leaf(session, history.later[0])
    cut_case(db, history)

    plain = ews(database_url, settings, "audit", "verify")
    assert CHAINS_OK in plain.stdout
    assert plain.returncode == 1
    named = f"leaf {first_cut} (event {history.later[0]})"
    assert f"BROKEN log: {named}: the event is missing from audit_events" in plain.stdout
    assert first_difference(plain.stdout) == named

    held = ews(database_url, settings, "audit", "verify", "--checkpoint", str(history.held["reviewed"]))
    assert held.returncode == 1
    assert first_difference(held.stdout) == named


def test_cut_events_with_rebuilt_log_pass_alone_and_fail_against_held_checkpoints(
    db, session, database_url, settings, history
):
    first_cut = history.leaf(session, history.later[0])
    assert first_cut == history.sizes["review"]
    cut_case(db, history)
    rewrite_log(db, keep=history.sizes["review"])

    plain = ews(database_url, settings, "audit", "verify")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert CHAINS_OK in plain.stdout
    assert LOG_OK in plain.stdout

    held = ews(database_url, settings, "audit", "verify", "--checkpoint", str(history.all_held))
    assert held.returncode == 1
    assert f"checkpoint {history.all_held} #2: {history.sizes['review']} leaves" in held.stdout
    assert (
        f"BROKEN checkpoint {history.all_held} #3: it signs {history.sizes['reviewed']} leaves" in held.stdout
    )
    # The cut events are gone from every table: the first leaf that differs is named, with the event now there.
    # (the other case's review, the log's last event, now sits where the first cut event was)
    moved = history.last.replace(f"leaf {history.sizes['later'] - 1} ", f"leaf {first_cut} ")
    assert first_difference(held.stdout) == f"{now(moved)}, not the event the checkpoints signed there"


def test_everything_rewritten_from_scratch_with_a_new_key_fails_against_the_held_key(
    db, session, database_url, settings, history
):
    old_key = current_signer(settings).verifier  # the auditor took it from GET /api/v1/audit/keys

    change_review(db, history)
    chains = [chain for (chain,) in session.execute(select(AuditEvent.chain).distinct())]
    session.commit()
    with database_owner(db) as owner:  # every chain from position 1, the log, the checkpoints, the keys
        for chain in chains:
            owner.rechain(chain, chain_records(db, chain))
        owner.forget_log()
        owner.execute("DELETE FROM audit_signing_keys")
        owner.execute("DELETE FROM audit_checkpoints")
    rebuild_log(db)
    insider = notes.Signer.generate(settings.log_origin)
    forged = with_key(settings, insider.private_text)
    sign(session, forged)
    env = {"EWS_AUDIT_SIGNING_KEY": insider.private_text}

    plain = ews(database_url, forged, "audit", "verify", **env)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert LOG_OK in plain.stdout

    held = str(history.all_held)
    with_old_key = ews(
        database_url, forged, "audit", "verify", "--checkpoint", held, "--key", old_key.text, **env
    )
    assert with_old_key.returncode == 1, with_old_key.stdout
    assert f"keys: {old_key.name}+{old_key.key_id_hex} (given with --key)" in with_old_key.stdout
    assert (
        f"BROKEN checkpoint {held} #4: the log's first {history.sizes['later']} leaves" in with_old_key.stdout
    )
    assert first_difference(with_old_key.stdout).startswith(
        f"leaf {history.sizes['before']} (now event {history.target}, chain case:{history.case_id}"
    )

    published_only = ews(database_url, forged, "audit", "verify", "--checkpoint", held, **env)
    assert published_only.returncode == 1
    assert f"BROKEN checkpoint {held} #1: no signature by a known key verifies" in published_only.stdout


def test_the_verify_endpoint_reports_the_log_and_names_the_changed_event(app, db, session, factory, history):
    token = issue_token(session, SYSTEM, factory.user("auditor"))
    session.commit()
    client = app.test_client()
    answer = client.get("/api/v1/audit/verify", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert answer["ok"] is True
    assert answer["log"]["ok"] is True
    assert answer["log"]["size"] == history.sizes["later"]
    assert answer["log"]["checkpoints"] == answer["log"]["checkpoints_consistent"] == len(history.held)
    assert answer["log"]["first_difference"] is None

    position = change_review(db, history)
    leaf = history.leaf(session, history.target)
    answer = client.get("/api/v1/audit/verify", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert answer["ok"] is True  # the chains alone cannot tell
    assert answer["log"]["ok"] is False
    named = f"leaf {leaf} (event {history.target}, chain case:{history.case_id}, position {position})"
    assert answer["log"]["first_difference"] == named
    assert any(named in problem for problem in answer["log"]["problems"])
