"""Fuzzing the audit verifiers with mutated exports: they never crash, never pass a real change, and agree.

A real JSON Lines export (three cases and the global chain, from `ews audit export`'s writer) is mutated by
Hypothesis: bytes flipped, lines dropped, swapped, duplicated or moved, the file cut off, invalid UTF-8
inserted, JSON values changed to another type (in the event and inside `data`), keys removed or added, and
several of these at once. Three verifiers judge each result: `ews_cases.audit.chain.verify_jsonl` (the library),
`ews audit verify FILE` (the command, in-process through click) and `docs/verify_audit_export.py` (the
independent script, imported from its file). Each must return a verdict without an exception, and all three
must give the one the oracle below expects.

The oracle: an export verifies exactly when every line is a JSON object, each chain's events are consecutive,
and each chain is, field for field in what the hash covers (`HASHED_FIELDS`, `prev_hash`, `hash`, compared
as canonical JSON so that `1`, `1.0` and `true` differ), the original chain or a beginning of it. Everything
else is a change the verifiers must report. What is not reported follows from the design (docs/audit.md §5,
§1): an export on its own cannot show events or chains cut off at the end, and `sequence` is not hashed.
"""

from __future__ import annotations

import importlib.util
import io
import json
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ews_cases.audit.chain import HASHED_FIELDS, verify_jsonl
from ews_cases.audit.export import write_export
from ews_cases.cli.commands import main as ews
from testkit.factories import ATTENDORN, BONN, FINNENTROP
from workflows import State

ROOT = Path(__file__).resolve().parents[2]
FUZZ = settings(
    max_examples=1000,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
MISSING = object()
#: What makes a line an audit event at all (else the verifiers stop at it).
EVENT_KEYS = frozenset({"chain", "position", "prev_hash", "hash"})


def load_script():
    spec = importlib.util.spec_from_file_location(
        "verify_audit_export", ROOT / "docs" / "verify_audit_export.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCRIPT = load_script()


@pytest.fixture
def export(session, factory) -> bytes:
    """A real export: cases in three states (reviews, emails, attendance) and the global chain."""
    cohort = factory.cohort()
    factory.workshop(cohort)
    factory.case(cohort, FINNENTROP, state=State.ATTENDING)
    factory.case(cohort, ATTENDORN, state=State.REVIEWED)
    factory.case(cohort, BONN, state=State.WITHDRAWN)
    session.commit()
    buffer = io.BytesIO()
    write_export(session, "jsonl", buffer)
    return buffer.getvalue()


# -- the oracle ------------------------------------------------------------------------------------------


def fingerprint(record: dict[str, Any]) -> str:
    """What verification depends on, exactly (types included): the hashed fields and the two hashes."""
    covered = {name: record.get(name, MISSING) for name in (*HASHED_FIELDS, "prev_hash", "hash")}
    return json.dumps(
        {k: ("<missing>", None) if v is MISSING else v for k, v in covered.items()},
        sort_keys=True,
        ensure_ascii=False,
        allow_nan=True,
    )


def chains_of(data: bytes) -> dict[str, list[str]] | None:
    """Chain → fingerprints, in file order; None when the file is not JSON Lines of audit events (objects
    with `EVENT_KEYS` and a text `chain`) whose chains' events are consecutive."""
    chains: dict[str, list[str]] = {}
    current = None
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            record = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return None
        if (
            not isinstance(record, dict)
            or not record.keys() >= EVENT_KEYS
            or not isinstance(record["chain"], str)
        ):
            return None
        chain = record["chain"]
        if chain != current and chain in chains:
            return None
        current = chain
        chains.setdefault(chain, []).append(fingerprint(record))
    return chains


def should_verify(original: dict[str, list[str]], data: bytes) -> bool:
    mutated = chains_of(data)
    if mutated is None:
        return False
    return all(
        chain in original and events == original[chain][: len(events)] for chain, events in mutated.items()
    )


# -- the mutations -----------------------------------------------------------------------------------------

OTHER_VALUES = st.sampled_from(
    [None, 0, 1, -1, 1.0, True, False, "", "1", "0" * 64, [], {}, [1], {"a": 1}, "ä", "\ud800", 2**70, 1e308]
)


def parsed(line: bytes) -> dict[str, Any] | None:
    """The line's object, if it (still) is one."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) else None


def retyped(line: bytes, path_choice: int, value: Any, inside_data: bool) -> bytes:
    """The line with one value (of the event, or inside its `data`) replaced by `value`."""
    record = parsed(line)
    if record is None:
        return line
    target = record.get("data") if inside_data and isinstance(record.get("data"), dict) else record
    if not target:
        return line
    key = sorted(target)[path_choice % len(target)]
    target[key] = value
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")


@st.composite
def mutation(draw, lines: list[bytes]) -> list[bytes]:
    """One change to the lines of an export."""
    lines = list(lines)
    n = len(lines)
    kind = draw(
        st.sampled_from(
            [
                "flip",
                "drop",
                "swap",
                "duplicate",
                "move",
                "truncate",
                "utf8",
                "retype",
                "retype-data",
                "key",
                "nest",
            ]
        )
    )
    i, j = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
    if kind == "flip" and lines[i]:
        line = bytearray(lines[i])
        position = draw(st.integers(0, len(line) - 1))
        line[position] ^= draw(st.integers(1, 255))
        lines[i] = bytes(line)
    elif kind == "drop":
        del lines[i]
    elif kind == "swap":
        lines[i], lines[j] = lines[j], lines[i]
    elif kind == "duplicate":
        lines.insert(j, lines[i])
    elif kind == "move":
        lines.insert(j, lines.pop(i))
    elif kind == "truncate":
        joined = b"\n".join(lines)
        lines = joined[: draw(st.integers(0, len(joined)))].split(b"\n")
    elif kind == "utf8":
        position = draw(st.integers(0, len(lines[i])))
        bad = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80", b"\xf0\x9f"]))
        lines[i] = lines[i][:position] + bad + lines[i][position:]
    elif kind in ("retype", "retype-data"):
        lines[i] = retyped(lines[i], draw(st.integers(0, 40)), draw(OTHER_VALUES), kind == "retype-data")
    elif kind == "key":
        record = parsed(lines[i])
        if record:
            if draw(st.booleans()):
                record.pop(sorted(record)[draw(st.integers(0, len(record) - 1))])
            else:
                record[draw(st.sampled_from(["extra", "note", "sequence"]))] = draw(OTHER_VALUES)
            lines[i] = json.dumps(record, ensure_ascii=False).encode("utf-8", "surrogatepass")
    else:  # nest: a value nested deeper than any JSON parser recurses
        lines[i] = b'{"chain": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    return lines


@st.composite
def mutated_export(draw, data: bytes) -> bytes:
    lines = data.rstrip(b"\n").split(b"\n")
    for _ in range(draw(st.integers(1, 3))):
        if not lines:
            break
        lines = draw(mutation(lines))
    return b"\n".join(lines) + b"\n"


# -- the verifiers -----------------------------------------------------------------------------------------


def library_verdict(path: Path) -> tuple[bool, set[str]]:
    with path.open("rb") as handle:
        result = verify_jsonl(handle)
    return result.ok, {b.chain for b in result.breaks}


def command_verdict(path: Path) -> bool:
    result = CliRunner().invoke(ews, ["audit", "verify", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code in (0, 1), result.output
    assert ("OK: all chains verify" in result.output) == (result.exit_code == 0), result.output
    return result.exit_code == 0


def script_verdict(path: Path) -> tuple[bool, set[str]]:
    output = io.StringIO()
    with redirect_stdout(output):
        code = SCRIPT.main(str(path))
    assert code in (0, 1), output.getvalue()
    printed = output.getvalue().splitlines()
    assert (code == 0) == any(line.startswith("OK") for line in printed), printed
    broken = {line.split()[2] for line in printed if line.startswith("BROKEN chain ")}
    return code == 0, broken


def test_the_untouched_export_verifies_everywhere(export, tmp_path):
    path = tmp_path / "audit.jsonl"
    path.write_bytes(export)
    assert library_verdict(path) == (True, set())
    assert command_verdict(path)
    assert script_verdict(path) == (True, set())
    assert len(chains_of(export)) >= 4


def test_mutated_exports_are_judged_alike_and_never_crash(export, tmp_path):
    original = chains_of(export)
    path = tmp_path / "mutated.jsonl"
    verdicts = {True: 0, False: 0}

    @FUZZ
    @given(data=mutated_export(export))
    def fuzz(data: bytes) -> None:
        path.write_bytes(data)
        expected = should_verify(original, data)
        library_ok, library_broken = library_verdict(path)
        script_ok, script_broken = script_verdict(path)
        assert (library_ok, command_verdict(path), script_ok) == (expected,) * 3
        if not expected and chains_of(data) is not None:  # well-formed: the same chains are named
            assert library_broken == script_broken
        verdicts[expected] += 1

    fuzz()
    assert verdicts[False] > verdicts[True], verdicts  # most mutations are real changes
