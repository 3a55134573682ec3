#!/usr/bin/env python3
"""Verify an EWS Cases audit export (JSON Lines) without EWS Cases; the algorithm is in docs/audit.md.

Usage: python3 verify_audit_export.py export.jsonl
Prints OK, or the first broken event of each broken chain and exits 1. Standard library only.
Personal values appear in `data` as commitments {"$pd": id, "sha256": hex} (docs/audit.md §7); they are
hashed like any other JSON value, so the check needs no values. `commitment_ok` checks one shown value.
A chain's events must be consecutive and in position order, as the export writes them; the chains may come
in any order. A line that is not an audit event (not UTF-8, not a JSON object with chain, position,
prev_hash and hash) stops the check with exit 1.
"""

import hashlib
import json
import sys

HASHED_FIELDS = ("chain", "position", "case_id", "cohort", "occurred_at", "actor", "actor_role", "action")
HASHED_FIELDS += ("from_state", "to_state", "data", "request_id")
NOT_CONSECUTIVE = "chain is not contiguous in the input"


def parse(line: bytes) -> dict | None:
    """The audit event on a line, or None if the line is not one."""
    try:
        event = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested too deep to parse
        return None
    if not isinstance(event, dict) or not {"chain", "position", "prev_hash", "hash"} <= event.keys():
        return None
    return event if isinstance(event["chain"], str) else None


def problem(event: dict, position: int, prev_hash: str) -> str | None:
    """Why `event` cannot follow the event at `position` whose hash is `prev_hash` (None: it can)."""
    if event["position"] != position + 1:
        return f"position {event['position']} where {position + 1} was expected (gap or reordering)"
    if event["prev_hash"] != prev_hash:
        return "prev_hash differs from the hash of the previous event"
    try:
        hashed = {name: event[name] for name in HASHED_FIELDS}
        canonical = json.dumps(hashed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        hashed_bytes = prev_hash.encode("ascii") + canonical.encode("utf-8")
    except (KeyError, ValueError) as exc:  # a field missing; text that is no Unicode (a lone surrogate)
        return f"event cannot be serialised: {exc!r}"
    if event["hash"] != hashlib.sha256(hashed_bytes).hexdigest():
        return "hash differs from the event's content"
    return None


def commitment_ok(commitment: dict, salt_hex: str, value: object) -> bool:
    """Whether `value` with its salt (as the auditor's page or the API shows them) matches the commitment."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(bytes.fromhex(salt_hex) + canonical).hexdigest() == commitment["sha256"]


def main(path: str) -> int:
    last: dict = {}  # chain -> (position, hash) of its last good event, or None once broken
    previous = None  # the chain of the line before
    with open(path, "rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            event = parse(line)
            if event is None:
                print(f"BROKEN at line {number}: not an audit event")
                return 1
            chain = event["chain"]
            resumed = chain != previous and chain in last  # its events stopped and start again
            previous = chain
            if chain not in last or last[chain] is not None:  # only a chain's first break is reported
                position, prev_hash = last.get(chain) or (0, "0" * 64)
                found = NOT_CONSECUTIVE if resumed else problem(event, position, prev_hash)
                last[chain] = None if found else (event["position"], event["hash"])
                if found:
                    where = f"at position {event['position']} (event {event.get('sequence')})"
                    print(f"BROKEN chain {chain} {where}: {found}")
    if None in last.values():
        return 1
    print(f"OK: all {len(last)} chains verify")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
