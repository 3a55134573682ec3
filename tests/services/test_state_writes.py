"""No code path changes a case's `state` except `apply_transition`, and a transition commits whole or not.

Three angles: the model refuses a direct write at run time; a scan of the source finds no other place
that writes `state`; and a failure injected after the state change but before the commit leaves the
database exactly as it was.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ews_cases.audit import chain
from ews_cases.models import AuditChainHead, AuditEvent, Case, OutboxMessage, case_chain
from ews_cases.models.case import StateWriteOutsideWorkflow
from ews_cases.services import transitions
from ews_cases.services.transitions import apply_transition
from testkit.factories import Factory
from workflows import State, TransitionRefused

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("ews_cases", "workers", "workflows")
#: The only place allowed to write `state`: the UPDATE that `apply_transition` runs once the workflow
#: machine has moved the case (the machine moves only the adapter, `CaseSubject`, never the model).
ALLOWED_STATE_WRITES = frozenset({("ews_cases/services/transitions.py", "_store_statement")})
#: Calls that write rows in bulk; a `state` among their arguments would bypass the workflow.
BULK_WRITERS = frozenset({"values", "update", "execute", "bulk_update_mappings", "bulk_insert_mappings"})
RAW_SQL = re.compile(r"\bupdate\s+\"?cases\"?\s+set\b[^;]*\bstate\s*=", re.IGNORECASE)


# -- (a) the model refuses direct writes -------------------------------------------------------------


def test_setting_state_on_a_loaded_case_raises(session, factory):
    case = factory.case(factory.cohort())
    session.commit()
    for target in (State.SUBMITTED, State.CERTIFIED, "draft"):
        with pytest.raises(StateWriteOutsideWorkflow):
            case.state = target
        assert case.state == State.DRAFT
    session.commit()
    assert session.scalar(select(Case.state).where(Case.id == case.id)) == State.DRAFT


def test_setting_state_on_a_case_from_a_new_session_raises(db):
    with db.transaction() as s:
        factory = Factory(s)
        case_id = factory.case(factory.cohort(), state=State.SUBMITTED).id
    with db.transaction() as s:
        case = s.get(Case, case_id)
        with pytest.raises(StateWriteOutsideWorkflow):
            case.state = State.ADMITTED
        with pytest.raises(StateWriteOutsideWorkflow):
            setattr(case, "state", State.ADMITTED)  # noqa: B010 - the dynamic spelling is refused too
    with db.transaction() as s:
        stored = s.get(Case, case_id)
        assert (stored.state, stored.version) == (State.SUBMITTED, 2)


def test_direct_writes_stay_refused_around_apply_transition(session, factory):
    case = factory.case(factory.cohort())
    coordinator = factory.coordinator()
    apply_transition(session, case, "submit", coordinator, case.version)
    assert (case.state, case.version) == (State.SUBMITTED, 2)
    with pytest.raises(StateWriteOutsideWorkflow):
        case.state = State.ADMITTED
    with pytest.raises(TransitionRefused):
        apply_transition(session, case, "admit", coordinator, case.version)  # wrong state
    with pytest.raises(TransitionRefused):
        apply_transition(session, case, "return_for_revision", coordinator, case.version)  # no reason
    with pytest.raises(StateWriteOutsideWorkflow):
        case.state = State.ADMITTED
    assert case.state == State.SUBMITTED
    session.commit()
    assert session.execute(select(Case.state, Case.version).where(Case.id == case.id)).one() == (
        State.SUBMITTED,
        2,
    )


# -- (b) no other code writes state ------------------------------------------------------------------


@dataclass(frozen=True)
class StateWrite:
    path: str
    scope: str
    line: int
    how: str


class _StateWriteFinder(ast.NodeVisitor):
    def __init__(self, path: str) -> None:
        self.path = path
        self.scope: list[str] = []
        self.found: list[StateWrite] = []

    def _add(self, node: ast.AST, how: str) -> None:
        self.found.append(StateWrite(self.path, ".".join(self.scope), getattr(node, "lineno", 0), how))

    def _scoped(self, node: ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_ClassDef = visit_FunctionDef = visit_AsyncFunctionDef = _scoped  # noqa: N815

    def _targets(self, target: ast.expr) -> Iterator[ast.expr]:
        if isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                yield from self._targets(element)
        elif isinstance(target, ast.Starred):
            yield from self._targets(target.value)
        else:
            yield target

    def _check_targets(self, node: ast.AST, targets: list[ast.expr]) -> None:
        for target in targets:
            for single in self._targets(target):
                if isinstance(single, ast.Attribute) and single.attr == "state":
                    self._add(node, f"assignment to {ast.unparse(single)}")

    def visit_Assign(self, node: ast.Assign) -> None:
        self._check_targets(node, node.targets)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._check_targets(node, [node.target])
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self._check_targets(node, [node.target])
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func_name = (
            node.func.attr
            if isinstance(node.func, ast.Attribute)
            else node.func.id
            if isinstance(node.func, ast.Name)
            else ""
        )
        if func_name in ("setattr", "__setattr__", "set_committed_value") and any(
            isinstance(arg, ast.Constant) and arg.value == "state" for arg in node.args
        ):
            self._add(node, f"{func_name}(..., 'state', ...)")
        if func_name in BULK_WRITERS:
            if any(keyword.arg == "state" for keyword in node.keywords):
                self._add(node, f"{func_name}(state=...)")
            for argument in [*node.args, *(k.value for k in node.keywords)]:
                for inner in ast.walk(argument):
                    if isinstance(inner, ast.Dict) and any(
                        isinstance(key, ast.Constant) and key.value == "state" for key in inner.keys
                    ):
                        self._add(node, f"{func_name}({{'state': ...}})")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and RAW_SQL.search(node.value):
            self._add(node, f"SQL text {node.value[:60]!r}")


def find_state_writes(source: str, path: str) -> list[StateWrite]:
    finder = _StateWriteFinder(path)
    finder.visit(ast.parse(source, filename=path))
    return finder.found


def scanned_files() -> list[Path]:
    files = [
        path for package in SCANNED if (ROOT / package).is_dir() for path in (ROOT / package).rglob("*.py")
    ]
    return sorted(files)


def test_the_scan_covers_the_application_and_the_workflow():
    scanned = {path.relative_to(ROOT).as_posix() for path in scanned_files()}
    for expected in (
        "ews_cases/services/transitions.py",
        "ews_cases/services/facts.py",
        "workflows/machine.py",
    ):
        assert expected in scanned


def test_the_scan_finds_every_kind_of_state_write():
    source = """
from sqlalchemy import text, update

def sneaky(session, case, other):
    case.state = "admitted"
    case.version, other.state = 3, "rejected"
    setattr(case, "state", "certified")
    object.__setattr__(case, "state", "certified")
    set_committed_value(case, "state", "certified")
    session.execute(update(Case).values(state="admitted"))
    session.execute(update(Case), [{"id": 1, "state": "admitted"}])
    session.execute(text("UPDATE cases SET state = 'admitted' WHERE id = 1"))
"""
    found = find_state_writes(source, "sneaky.py")
    assert [write.line for write in found] == [5, 6, 7, 8, 9, 10, 11, 12]
    assert {write.scope for write in found} == {"sneaky"}


def test_the_scan_ignores_reads_and_unrelated_state():
    source = """
state: str = "draft"

class Facts:
    state: str

def fine(case, select, Case):
    if case.state == "draft":
        current = case.state
    payload = {"state": case.state}
    select(Case).where(Case.state == "draft")
    return current, payload
"""
    assert find_state_writes(source, "fine.py") == []


def test_nothing_but_the_workflow_adapter_writes_state():
    writes = []
    for path in scanned_files():
        relative = path.relative_to(ROOT).as_posix()
        writes += find_state_writes(path.read_text(encoding="utf-8"), relative)
    allowed = [w for w in writes if (w.path, w.scope) in ALLOWED_STATE_WRITES]
    assert [w for w in writes if w not in allowed] == []
    # The allow-list names real places: when the adapter moves, this list must move with it.
    assert {(w.path, w.scope) for w in allowed} == ALLOWED_STATE_WRITES


# -- (c) a failure before the commit leaves nothing behind -------------------------------------------


class InjectedFailure(RuntimeError):
    """Raised by the tests at a chosen point between the state change and the commit."""


@dataclass(frozen=True)
class Stored:
    state: str
    version: int
    case_events: int
    all_events: int
    outbox_messages: int
    chain_position: int


def stored(db, case_id: int) -> Stored:
    """What is committed, read in a new session."""
    with db.transaction() as s:
        state, version = s.execute(select(Case.state, Case.version).where(Case.id == case_id)).one()
        assert chain.verify_database(s).ok
        return Stored(
            state=state,
            version=version,
            case_events=s.scalar(select(func.count()).where(AuditEvent.case_id == case_id)),
            all_events=s.scalar(select(func.count()).select_from(AuditEvent)),
            outbox_messages=s.scalar(select(func.count()).select_from(OutboxMessage)),
            chain_position=s.scalar(
                select(AuditChainHead.position).where(AuditChainHead.chain == case_chain(case_id))
            ),
        )


@pytest.fixture
def submittable(db):
    """A committed, complete draft and the coordinator who will submit it."""
    with db.transaction() as s:
        factory = Factory(s)
        case = factory.case(factory.cohort())
        coordinator = factory.coordinator()
    return case.id, coordinator


def _fail_while_queueing(monkeypatch, calls):
    real = transitions.queue_effects

    def queue_then_fail(session, case, *args, **kwargs):
        assert case.state == State.SUBMITTED  # the state has already changed
        messages = real(session, case, *args, **kwargs)
        session.flush()
        assert messages  # some emails are already written when the failure hits
        calls.append("queue_effects")
        raise InjectedFailure("SMTP template exploded")

    monkeypatch.setattr(transitions, "queue_effects", queue_then_fail)


def _fail_while_auditing(monkeypatch, calls):
    real = chain.append

    def fail_on_transition(session, **kwargs):
        if kwargs["action"].startswith("transition."):
            assert kwargs["case"].state == State.SUBMITTED
            assert session.scalar(select(func.count()).select_from(OutboxMessage)) > 0
            calls.append("chain.append")
            raise InjectedFailure("audit table unavailable")
        return real(session, **kwargs)

    monkeypatch.setattr(chain, "append", fail_on_transition)


def _fail_after_auditing(monkeypatch, calls):
    real = chain.append

    def append_then_fail(session, **kwargs):
        event = real(session, **kwargs)
        if kwargs["action"].startswith("transition."):
            calls.append("after chain.append")
            raise InjectedFailure("crash just before COMMIT")
        return event

    monkeypatch.setattr(chain, "append", append_then_fail)


@pytest.mark.parametrize(
    "inject",
    [_fail_while_queueing, _fail_while_auditing, _fail_after_auditing],
    ids=["while-queueing-emails", "while-writing-the-audit-event", "after-everything-before-commit"],
)
def test_a_failure_before_commit_changes_nothing(db, submittable, monkeypatch, inject):
    case_id, coordinator = submittable
    before = stored(db, case_id)
    calls: list[str] = []
    inject(monkeypatch, calls)

    def submit_in_one_transaction() -> None:
        with db.transaction() as s:
            case = s.get(Case, case_id)
            apply_transition(s, case, "submit", coordinator, case.version)

    with pytest.raises(InjectedFailure):
        submit_in_one_transaction()

    assert len(calls) == 1  # the failure happened where it was meant to
    assert stored(db, case_id) == before
    monkeypatch.undo()

    # The same transition goes through afterwards: nothing half-done is in its way.
    with db.transaction() as s:
        case = s.get(Case, case_id)
        apply_transition(s, case, "submit", coordinator, before.version)
    after = stored(db, case_id)
    assert (after.state, after.version) == (State.SUBMITTED, before.version + 1)
    assert after.case_events == before.case_events + 1
    assert after.chain_position == before.chain_position + 1
    assert after.outbox_messages == before.outbox_messages + 3  # contact and both team members
