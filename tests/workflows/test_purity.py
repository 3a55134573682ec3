"""The workflow package is pure Python: using it loads neither Flask nor SQLAlchemy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json
import sys
from datetime import UTC, date, datetime
from types import SimpleNamespace

import workflows
import workflows.docs
from workflows import WORKFLOW, Actor, Attempt, Role, TransitionRefused

facts = SimpleNamespace(
    state="draft", municipality_ags="05382068",
    deadline_at=datetime(2026, 6, 30, 21, 59, 59, tzinfo=UTC), missing_answers=[], team_problems=[],
    consent=True, cohort_region=None, municipality_region="Köln", review_count=2, required_reviews=2,
    occupied_places=0, capacity=10, starts_on=date(2026, 6, 1), project_status="approved",
    min_attendance=0.75, members_meeting_attendance=1, certificates_missing=0,
)
now = datetime(2026, 6, 15, tzinfo=UTC)
applicant = Attempt(Actor(Role.APPLICANT, 1, "05382068"), now)
WORKFLOW.options(facts, applicant)
WORKFLOW.fire(facts, "submit", applicant)
try:
    WORKFLOW.fire(facts, "admit", Attempt(Actor(Role.COORDINATOR, 2), now))
except TransitionRefused as refused:
    refused.refusals[0].render()
WORKFLOW.as_data()
workflows.docs.workflow_markdown()
assert facts.state == "submitted", facts.state
print(json.dumps(sorted(sys.modules)))
"""

FORBIDDEN = {"flask", "flask_babel", "sqlalchemy", "alembic", "celery", "ews_cases"}


def test_workflows_import_neither_flask_nor_sqlalchemy():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    modules = json.loads(result.stdout)
    assert "workflows.machine" in modules
    assert "transitions" in modules
    leaked = sorted(m for m in modules if m.split(".")[0] in FORBIDDEN)
    assert leaked == [], f"importing workflows pulled in {leaked}"
