"""`ews audit verify` with the Merkle log and held checkpoints (docs/audit.md §9), for the command line and
the auditor's pages: read the keys and the signed roots, verify, and say what was found.

`verify` is the one entry point; `lines` writes the result as the command line's English lines, which
keep today's chain lines (`database: …`, `OK: all chains verify`, `BROKEN chain …`) and add the log's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from ews_cases.audit import notes
from ews_cases.audit.anchors import (
    AnchorProblem,
    HeldCheckpoints,
    KeyRing,
    StoredCheckpoints,
    key_ring,
    read_held,
    stored_anchors,
)
from ews_cases.audit.chain import Verification
from ews_cases.audit.log_verify import LogVerification, verify_log
from ews_cases.settings import Settings


@dataclass(slots=True)
class Report:
    chains: Verification
    log: LogVerification
    keys: KeyRing
    held: HeldCheckpoints = field(default_factory=HeldCheckpoints)
    stored: StoredCheckpoints = field(default_factory=StoredCheckpoints)

    @property
    def anchor_problems(self) -> list[AnchorProblem]:
        return [*self.held.problems, *self.stored.problems]

    @property
    def ok(self) -> bool:
        return self.chains.ok and self.log.ok and not self.anchor_problems

    @property
    def held_ok(self) -> bool:
        """Whether every held checkpoint verified and the log is consistent with each."""
        held = [check for check in self.log.anchors if check.anchor.held]
        return bool(held) and not self.held.problems and all(check.consistent for check in held)


def verify(
    session: Session,
    settings: Settings,
    held: Sequence[tuple[str, str]] = (),
    keys: Sequence[notes.VerifierKey] = (),
) -> Report:
    """Verify the chains and the log against the stored checkpoints and the held ones (`(label, text)`),
    with the auditor's `keys` when given, else the configured log keys."""
    ring = key_ring(session, settings, keys)
    origin = settings.log_origin
    read = HeldCheckpoints()
    for label, text in held:
        found = read_held(text, label, ring, origin)
        read.anchors.extend(found.anchors)
        read.problems.extend(found.problems)
    stored = stored_anchors(session, ring, origin)  # before the log's state: see verify_log
    chains, log = verify_log(session, [*read.anchors, *stored.anchors])
    return Report(chains, log, ring, read, stored)


def summary(report: Report) -> dict[str, Any]:
    """The log's part of the verification as data (`GET /api/v1/audit/verify`'s `log`)."""
    log = report.log
    return {
        "ok": log.ok and not report.anchor_problems,
        "size": log.size,
        "root": log.root.hex(),
        "pending": log.pending,
        "checkpoints": len(log.anchors),
        "checkpoints_consistent": sum(check.consistent for check in log.anchors),
        "problems": [line for line in lines(report) if line.startswith("BROKEN")],
        "first_difference": log.difference.describe() if log.difference is not None else None,
    }


def lines(report: Report) -> list[str]:
    """The log's part of `ews audit verify`'s output (the chain lines are written before it)."""
    log = report.log
    out = [
        f"log: {log.size} leaves, root {log.root.hex()}; {log.pending} newer events wait for the next checkpoint"
    ]
    out.append(f"keys: {report.keys.describe()}")
    if report.keys.problem:
        out.append(f"WARNING: {report.keys.problem}")
    for check in log.anchors:
        if check.anchor.held and check.consistent:
            signers = ", ".join(check.anchor.signers)
            out.append(
                f"checkpoint {check.anchor.label}: {check.anchor.size} leaves, signed by {signers}: "
                "consistent with the log"
            )
    stored = [check for check in log.anchors if not check.anchor.held]
    if stored or report.stored.unchecked:
        consistent = sum(check.consistent for check in stored)
        unchecked = (
            f" ({report.stored.unchecked} signed by no known key, not checked)"
            if report.stored.unchecked
            else ""
        )
        out.append(
            f"checkpoints in the database: {consistent} of {len(stored)} consistent with the log{unchecked}"
        )
    out.extend(f"BROKEN log: {problem.message}" for problem in log.problems)
    out.extend(f"BROKEN checkpoint {problem.message}" for problem in report.anchor_problems)
    out.extend(
        f"BROKEN checkpoint {check.problem.message}" for check in log.anchors if check.problem is not None
    )
    if log.difference is not None:
        out.append(f"FIRST DIFFERENCE: {log.difference.describe()}")
    if report.ok:
        out.append(
            "OK: the log verifies" + (" and is consistent with every checkpoint" if log.anchors else "")
        )
    return out
