#!/usr/bin/env python3
"""Verify an EWS Cases audit export (JSON Lines) without EWS Cases; the algorithm is in docs/audit.md.

Usage: python3 verify_audit_export.py export.jsonl
Prints OK, or the first broken event of each broken chain and exits 1. Standard library only.
A chain's events must come in position order, as the export writes them; chains may interleave.
"""

import hashlib
import json
import sys

HASHED_FIELDS = ("chain", "position", "case_id", "cohort", "occurred_at", "actor", "actor_role", "action")
HASHED_FIELDS += ("from_state", "to_state", "data", "request_id")


def problem(event: dict, position: int, prev_hash: str) -> str | None:
    """Why `event` cannot follow the event at `position` whose hash is `prev_hash` (None: it can)."""
    hashed = {name: event[name] for name in HASHED_FIELDS}
    canonical = json.dumps(hashed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if event["position"] != position + 1:
        return f"position {event['position']} where {position + 1} was expected (gap or reordering)"
    if event["prev_hash"] != prev_hash:
        return "prev_hash differs from the hash of the previous event"
    if event["hash"] != hashlib.sha256(prev_hash.encode("ascii") + canonical.encode("utf-8")).hexdigest():
        return "hash differs from the event's content"
    return None


def main(path: str) -> int:
    last: dict = {}  # chain -> (position, hash) of its last good event, or None once broken
    with open(path, encoding="utf-8") as lines:
        for event in (json.loads(line) for line in lines if line.strip()):
            chain = event["chain"]
            if chain not in last or last[chain] is not None:  # only a chain's first break is reported
                position, prev_hash = last.get(chain) or (0, "0" * 64)
                found = problem(event, position, prev_hash)
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
