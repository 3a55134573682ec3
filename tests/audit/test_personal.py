"""The one declaration of personal audit data (ews_cases/audit/personal.py) covers every action written."""

from __future__ import annotations

from ews_cases.audit.personal import PERSONAL_LOOKING, declared, personal_paths
from tests.web.test_auditor_timeline import INDIRECT_ACTIONS, MIGRATION_ACTIONS, written_actions


def test_every_action_the_code_base_can_write_is_declared():
    """A new action must say which of its fields are personal (an empty tuple: none)."""
    found, _indirect = written_actions()
    for actions in INDIRECT_ACTIONS.values():
        found |= actions
    found |= MIGRATION_ACTIONS
    assert sorted(a for a in found if declared(a) is None) == []


def test_an_undeclared_action_commits_every_field_that_looks_personal():
    data = {"invitee": {"email": "a@example.org", "full_name": "A. Beispiel"}, "count": 3, "note": "x"}
    assert sorted(personal_paths("example.not_declared", data)) == [
        ("invitee", "email"),
        ("invitee", "full_name"),
        ("note",),
    ]
    assert PERSONAL_LOOKING.search("recipient_email")


def test_declared_paths_commit_strings_only():
    data = {"changes": {"consent": {"old": False, "new": True}, "contact.name": {"old": "", "new": "Erika"}}}
    assert list(personal_paths("case.updated", data)) == [("changes", "contact.name", "new")]
