"""Issue 18, must-hold 3: the auditor's bundle verifies offline, in a subprocess, in a fresh virtual environment
holding only what its README asks for (nothing: Python's standard library); one changed byte anywhere in the
export makes it fail naming the event of that line."""

from __future__ import annotations

import csv
import io
import json
import random
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from ews_cases.audit import log, notes
from ews_cases.audit.bundle import write_bundle
from ews_cases.audit.signing import current_signer
from ews_cases.models import AuditCheckpoint, utcnow
from ews_cases.services.checkpoints import published_keys, write_checkpoint
from ews_cases.services.cosignatures import add_cosignatures, checkpoint_text, register_cosigner
from ews_cases.services.timestamps import timestamp_pending
from testkit.factories import ATTENDORN, SYSTEM
from testkit.tsa import LocalTsa
from tests.audit.insider import ews
from tests.audit.test_timestamps import openssl_verifies
from workflows import State

BUNDLE_FILES = {
    "README.md",
    "verify_bundle.py",
    "audit.jsonl",
    "leaves.csv",
    "checkpoints.jsonl",
    "keys.json",
    "manifest.json",
}


@pytest.fixture(scope="module")
def clean_python(tmp_path_factory) -> Path:
    """A virtual environment with nothing installed (not even pip): what the bundle's README asks for."""
    where = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False, system_site_packages=False, clear=True).create(where)
    python = where / "bin" / "python"
    probe = subprocess.run([python, "-c", "import cryptography"], capture_output=True, text=True)
    assert probe.returncode != 0, "the clean environment must not see the cryptography package"
    return python


@pytest.fixture
def bundle(session, factory, settings, database_url, tmp_path) -> Path:
    """A trail with two checkpoints and events after the last, bundled by `ews audit bundle`, unzipped."""
    cohort = factory.cohort()
    factory.case(cohort, state=State.REVIEWED)
    session.commit()
    assert write_checkpoint(session, settings) is not None
    factory.case(cohort, ATTENDORN, state=State.SUBMITTED)
    session.commit()
    assert write_checkpoint(session, settings) is not None
    session.commit()
    factory.user("auditor")  # after the last checkpoint: in the export, not yet in the log
    session.commit()
    archive = tmp_path / "bundle.zip"
    made = ews(database_url, settings, "audit", "bundle", "--output", str(archive))
    assert made.returncode == 0, made.stderr
    with zipfile.ZipFile(archive) as opened:
        folders = {name.split("/", 1)[0] for name in opened.namelist()}
        assert len(folders) == 1
        assert {name.split("/", 1)[1] for name in opened.namelist()} >= BUNDLE_FILES
        opened.extractall(tmp_path)
    return tmp_path / folders.pop()


def run(python: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([python, *map(str, args)], capture_output=True, text=True, timeout=120)


def test_the_bundle_holds_the_trail_the_leaves_the_checkpoints_and_the_keys(session, settings, bundle):
    leaves = list(csv.reader(io.StringIO((bundle / "leaves.csv").read_text())))
    stored = [(str(index), str(event)) for index, event, _, _ in log.iter_leaves(session)]
    assert leaves == [["leaf", "sequence"], *map(list, stored)]
    notes = [json.loads(line)["note"] for line in (bundle / "checkpoints.jsonl").read_text().splitlines()]
    assert notes == list(session.scalars(select(AuditCheckpoint.note).order_by(AuditCheckpoint.id)))
    keys = json.loads((bundle / "keys.json").read_text())
    assert keys["origin"] == settings.log_origin
    assert [k["verifier_key"] for k in keys["keys"]] == [k["verifier_key"] for k in published_keys(session)]
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["log"]["size"] == len(stored) == log.head(session).size
    session.commit()


def test_the_bundle_verifies_offline_and_one_changed_byte_names_its_event(clean_python, settings, bundle):
    result = run(clean_python, bundle / "verify_bundle.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Ed25519 by pure Python (RFC 8032)" in result.stdout
    assert (
        "; 1 events not yet in the log" in result.stdout
    )  # the auditor's account, after the last checkpoint
    assert result.stdout.splitlines()[-1].startswith("OK: ")
    zipped = run(clean_python, bundle / "verify_bundle.py", bundle.parent / "bundle.zip")
    assert zipped.returncode == 0, zipped.stdout

    export = bundle / "audit.jsonl"
    original = export.read_bytes()
    lines = original.splitlines(keepends=True)
    starts = [sum(len(line) for line in lines[:i]) for i in range(len(lines))]
    chosen = random.Random(18)
    # Every byte of one event line (each field, key, quote and the newline), and random bytes anywhere.
    middle = len(lines) // 2
    positions = list(range(starts[middle], starts[middle] + len(lines[middle]), 7))
    positions += chosen.sample(range(len(original)), 40)
    for at in positions:
        line_number = max(i for i, start in enumerate(starts) if start <= at)
        sequence = json.loads(lines[line_number])["sequence"]
        old = original[at : at + 1]
        new = (
            bytes([chosen.choice(b"0123456789".replace(old, b""))])
            if old.isdigit()
            else b"x"
            if old != b"x"
            else b"y"
        )
        export.write_bytes(original[:at] + new + original[at + 1 :])
        changed = run(clean_python, bundle / "verify_bundle.py")
        where = f"byte {at} ({old!r} → {new!r}) of line {line_number + 1}: {lines[line_number][:80]!r}"
        assert changed.returncode == 1, where + "\n" + changed.stdout
        broken = [
            line for line in changed.stdout.splitlines() if line.startswith(("BROKEN", "FIRST DIFFERENCE"))
        ]
        assert any(f"event {sequence}" in line for line in broken), where + "\n" + changed.stdout
    export.write_bytes(original)
    assert run(clean_python, bundle / "verify_bundle.py").returncode == 0


def test_held_checkpoints_and_keys_offline(clean_python, settings, bundle, tmp_path):
    first = json.loads((bundle / "checkpoints.jsonl").read_text().splitlines()[0])["note"]
    held = tmp_path / "kept.txt"
    held.write_text(first)
    key = current_signer(settings).verifier.text
    result = run(clean_python, bundle / "verify_bundle.py", "--checkpoint", held, "--key", key)
    assert result.returncode == 0, result.stdout
    name_and_id = "+".join(key.split("+", 2)[:2])
    assert f"keys (given with --key): {name_and_id}" in result.stdout
    assert (
        f"{held}: {first.split(chr(10))[1]} leaves, signed by {name_and_id}: matches the log" in result.stdout
    )

    # A checkpoint signed by a key the auditor does not hold does not count, and a note whose root was
    # changed no longer verifies.
    other = notes.Signer.generate(settings.log_origin).verifier.text
    refused = run(clean_python, bundle / "verify_bundle.py", "--key", other)
    assert refused.returncode == 1
    assert "BROKEN checkpoint 1: no signature by a known key" in refused.stdout
    lines, size, root = first.split("\n")[0], first.split("\n")[1], first.split("\n")[2]
    forged = first.replace(f"{lines}\n{size}\n{root}\n", f"{lines}\n{size}\n{root[:-2]}A=\n")
    held.write_text(forged)
    tampered = run(clean_python, bundle / "verify_bundle.py", "--checkpoint", held)
    assert tampered.returncode == 1
    assert f"BROKEN {held}: the signature of " in tampered.stdout


def test_swapped_leaves_break_the_checkpoints(clean_python, bundle):
    rows = list(csv.reader(io.StringIO((bundle / "leaves.csv").read_text())))
    rows[1][1], rows[2][1] = rows[2][1], rows[1][1]  # leaves 0 and 1 swap their events
    (bundle / "leaves.csv").write_text("".join(f"{a},{b}\n" for a, b in rows))
    result = run(clean_python, bundle / "verify_bundle.py")
    assert result.returncode == 1
    assert "no longer have the root it signs" in result.stdout
    assert "FIRST DIFFERENCE: between leaf 0 (now event " in result.stdout


def test_the_verifier_shares_no_code_with_the_application(bundle):
    source = (bundle / "verify_bundle.py").read_text()
    imports = {
        line.split()[1].split(".")[0] for line in source.splitlines() if line.startswith(("import ", "from "))
    }
    assert imports <= set(sys.stdlib_module_names) | {"cryptography"}
    assert "ews_cases" not in source


def test_cosignatures_and_time_stamps_travel_with_the_bundle(
    db, session, factory, settings, clean_python, tmp_path
):
    factory.case(state=State.SUBMITTED)
    session.commit()
    checkpoint = write_checkpoint(session, settings).checkpoint
    cosigner = notes.Signer.generate("lrh.example/pruefer", notes.COSIGNATURE_V1)
    register_cosigner(session, SYSTEM, cosigner.verifier.text)
    line = notes.cosign(cosigner, checkpoint_text(checkpoint), int(utcnow().timestamp()) - 60)
    add_cosignatures(session, SYSTEM, checkpoint, line.line)
    session.commit()
    tsa = LocalTsa(tmp_path / "tsa")
    try:
        stamped = timestamp_pending(
            db, settings.model_copy(update={"tsa_url": tsa.url, "tsa_certificate": tsa.ca_pem})
        )
    finally:
        tsa.stop()
    assert stamped.stored == [checkpoint.id]

    archive = tmp_path / "bundle.zip"
    with archive.open("wb") as handle:
        write_bundle(session, settings, handle)
    session.commit()
    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(folder)
    [bundle] = folder.iterdir()
    [item] = [json.loads(line) for line in (bundle / "checkpoints.jsonl").read_text().splitlines()]
    assert [c["line"] for c in item["cosignatures"]] == [line.line.rstrip("\n")]
    assert item["timestamp"]["tsa_url"] == tsa.url
    assert (bundle / f"checkpoints/{checkpoint.id}.txt").read_text() == checkpoint.note
    assert openssl_verifies(
        tmp_path,
        (bundle / f"checkpoints/{checkpoint.id}.tsr").read_bytes(),
        checkpoint.note.encode(),
        tsa.ca_pem,
    )

    # The auditor who holds only their own cosigning key accepts the checkpoint through the cosignature.
    result = run(clean_python, bundle / "verify_bundle.py", "--key", cosigner.verifier.text)
    assert result.returncode == 0, result.stdout
    assert (
        f"checkpoint {checkpoint.id}: {checkpoint.tree_size} leaves, signed by lrh.example/pruefer+"
        in result.stdout
    )
