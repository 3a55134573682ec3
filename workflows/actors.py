"""Who acts on a case: a person in one of the SPEC §2 roles, or the system (a worker task)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    APPLICANT = "applicant"
    REVIEWER = "reviewer"
    COORDINATOR = "coordinator"
    AUDITOR = "auditor"
    ADMIN = "admin"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Actor:
    """The acting party as the workflow sees it; `label` is what the audit trail records."""

    role: Role
    user_id: int | None = None
    municipality_ags: str | None = None
    task: str | None = None

    @classmethod
    def system(cls, task: str) -> Actor:
        """The actor for automatic transitions, named after the task that fires them."""
        return cls(role=Role.SYSTEM, task=task)

    @property
    def label(self) -> str:
        if self.role is Role.SYSTEM:
            return f"system:{self.task or 'unknown'}"
        return f"user:{self.user_id}"
