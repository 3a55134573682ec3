"""Render `docs/workflow.md` from the machine definition: `python -m workflows.docs > docs/workflow.md`."""

from __future__ import annotations

from workflows.actors import Role
from workflows.definition import STATE_LABELS, STATE_PERMISSIONS, Permission, State
from workflows.machine import WORKFLOW


def workflow_markdown() -> str:
    """The committed workflow document; a test compares it with this output."""
    data = WORKFLOW.as_data()
    rows = []
    for t in data["transitions"]:
        guards = "; ".join(g["code"] for g in t["guards"]) or "—"
        rows.append(
            f"| `{t['name']}` | {', '.join(t['from'])} | {t['to']} | {', '.join(t['roles'])} "
            f"| {guards} | {', '.join(t['effects']) or '—'} |"
        )
    states = "\n".join(f"| `{s.value}` | {STATE_LABELS[s]} |" for s in State)
    permissions = "\n".join(
        f"| `{s.value}` | " + " | ".join(_roles(STATE_PERMISSIONS[s].roles(p)) for p in Permission) + " |"
        for s in State
    )
    return (
        "# Case workflow\n\n"
        "Generated from `workflows/definition.py` by `python -m workflows.docs > docs/workflow.md`; "
        "`tests/workflows/test_docs.py` fails when this file is stale.\n\n"
        "```mermaid\n" + WORKFLOW.mermaid() + "```\n\n"
        "## States\n\n| state | label |\n|---|---|\n" + states + "\n\n"
        "## Transitions\n\n| transition | from | to | roles | guards | effects |\n|---|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n\n## Permissions per state\n\n"
        "Who may see or change what besides the transitions (`STATE_PERMISSIONS`); applicants only on their "
        "own municipality's case, reviewers never on a case they are conflicted for.\n\n"
        "| state | " + " | ".join(p.value for p in Permission) + " |\n"
        "|---|" + "---|" * len(Permission) + "\n" + permissions + "\n"
    )


def _roles(roles: frozenset[Role]) -> str:
    return ", ".join(role.value for role in Role if role in roles) or "—"


if __name__ == "__main__":
    print(workflow_markdown(), end="")
