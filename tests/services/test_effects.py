"""The effect → handler table: every workflow effect has exactly one handler."""

from __future__ import annotations

import ast
import inspect

import pytest
from sqlalchemy import select

from ews_cases.models import OutboxMessage
from ews_cases.services import effects
from ews_cases.services.effects import HANDLERS, planned_letters
from testkit.factories import FINNENTROP
from workflows import TRANSITIONS_BY_NAME, Effect, State


def _table_keys() -> list[str]:
    """The keys of the `HANDLERS` literal as written (a key written twice would silently keep one handler)."""
    for node in ast.walk(ast.parse(inspect.getsource(effects))):
        if isinstance(node, ast.AnnAssign) and ast.unparse(node.target) == "HANDLERS":
            (table,) = [n for n in ast.walk(node.value) if isinstance(n, ast.Dict)]
            return [ast.unparse(key) for key in table.keys if key is not None]
    raise AssertionError("no HANDLERS table in ews_cases/services/effects.py")


def test_every_effect_has_exactly_one_handler():
    assert set(HANDLERS) == set(Effect)
    assert sorted(_table_keys()) == sorted(f"Effect.{effect.name}" for effect in Effect)
    assert all(callable(handler) for handler in HANDLERS.values())


@pytest.mark.parametrize(
    ("state", "name"),
    [
        (State.REVIEWED, "admit"),
        (State.WAITLISTED, "reject"),
        (State.ADMITTED, "withdraw"),  # the contact's confirmation and the office's "Platz frei"
        (State.SUBMITTED, "withdraw"),  # no place frees up: only the confirmation
        (State.ATTENDING, "drop_out"),
        (State.SUBMITTED, "return_for_revision"),
    ],
)
def test_the_planned_letters_are_the_letters_the_transition_queues(session, factory, state, name):
    factory.actor("coordinator")  # a second member of the office
    case = factory.case(factory.cohort(), FINNENTROP, state=state)
    spec = TRANSITIONS_BY_NAME[name]
    planned = planned_letters(session, case, spec)
    before = set(session.scalars(select(OutboxMessage.id)))
    factory.fire(case, name)
    queued = session.scalars(
        select(OutboxMessage).where(OutboxMessage.id.not_in(before)).order_by(OutboxMessage.id)
    ).all()
    assert [(p.kind, p.recipients) for p in planned] == [
        (kind, [m.recipient for m in queued if m.kind == kind])
        for kind in dict.fromkeys(m.kind for m in queued)
    ]
    for letter in planned:
        assert {m.subject for m in queued if m.kind == letter.kind} == {letter.subject}
    assert ("announce_free_place" in {p.kind for p in planned}) is (state == State.ADMITTED)
