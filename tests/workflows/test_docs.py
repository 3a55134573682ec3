"""`docs/workflow.md` is generated from the machine definition and must not go stale."""

from __future__ import annotations

from pathlib import Path

from workflows import WORKFLOW
from workflows.docs import workflow_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "workflow.md"
REGENERATE = ".venv/bin/python -m workflows.docs > docs/workflow.md"


def test_committed_workflow_doc_is_current():
    assert DOC.is_file(), f"docs/workflow.md is missing; generate it with `{REGENERATE}`"
    assert DOC.read_text(encoding="utf-8") == workflow_markdown(), (
        f"docs/workflow.md is stale; regenerate it with `{REGENERATE}`"
    )


def test_mermaid_diagram_contains_every_transition():
    diagram = WORKFLOW.mermaid()
    assert diagram.startswith("stateDiagram-v2\n")
    assert "    [*] --> draft" in diagram
    edges = [
        f"    {source.value} --> {spec.dest.value}: {spec.name} "
        for spec in WORKFLOW.specs.values()
        for source in spec.sources
    ]
    assert len(edges) == 17
    for edge in edges:
        assert edge in diagram, edge
    assert "```mermaid\n" + diagram + "```\n" in workflow_markdown()
    for name in WORKFLOW.specs:
        assert f"| `{name}` |" in workflow_markdown(), name
