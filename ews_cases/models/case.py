"""The case (an application of one municipality to one cohort) and its development team."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.orm.base import NEVER_SET, NO_VALUE

from ews_cases.models.base import Base, utcnow
from ews_cases.models.cohort import Cohort
from ews_cases.models.municipality import Municipality
from workflows import INITIAL_STATE, State

ANSWER_FIELDS = ("motivation", "starting_point", "goals", "leadership_support")
_STATES_SQL = ", ".join(f"'{s.value}'" for s in State)


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("cohort_id", "municipality_ags"),
        UniqueConstraint("cohort_id", "number"),
        CheckConstraint(f"state IN ({_STATES_SQL})", name="state"),
        CheckConstraint("version > 0", name="version_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id"), index=True)
    number: Mapped[int]
    municipality_ags: Mapped[str] = mapped_column(ForeignKey("municipalities.ags"), index=True)
    # Written only by the workflow machine inside services.transitions.apply_transition.
    state: Mapped[str] = mapped_column(String(20), default=INITIAL_STATE.value, index=True)
    version: Mapped[int] = mapped_column(default=1)

    contact_name: Mapped[str] = mapped_column(String(200), default="")
    #: "Frau", "Herr" or empty (none stated): how letters greet the contact person.
    contact_salutation: Mapped[str] = mapped_column(String(10), default="", server_default="")
    contact_email: Mapped[str] = mapped_column(String(254), default="")
    contact_phone: Mapped[str] = mapped_column(String(50), default="")
    motivation: Mapped[str] = mapped_column(Text, default="")
    starting_point: Mapped[str] = mapped_column(Text, default="")
    goals: Mapped[str] = mapped_column(Text, default="")
    leadership_support: Mapped[str] = mapped_column(Text, default="")
    consent: Mapped[bool] = mapped_column(Boolean, default=False)

    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None]
    #: A legal hold (coordinator, with reason) stops every erasure of the case until it is lifted.
    legal_hold_reason: Mapped[str | None] = mapped_column(Text)
    legal_hold_at: Mapped[datetime | None]
    #: The case's personal data was erased (the anonymised skeleton stays for statistics), and why.
    personal_data_erased_at: Mapped[datetime | None]
    personal_data_erasure_category: Mapped[str | None] = mapped_column(String(60))

    cohort: Mapped[Cohort] = relationship(lazy="joined")
    municipality: Mapped[Municipality] = relationship(lazy="joined")
    team: Mapped[list[TeamMember]] = relationship(
        back_populates="case", order_by="TeamMember.slot", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative API

    def answers(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in ANSWER_FIELDS}


class TeamMember(Base):
    """A member of the municipality's development team (slot 1..team_size)."""

    __tablename__ = "team_members"
    __table_args__ = (UniqueConstraint("case_id", "slot"), CheckConstraint("slot > 0", name="slot_positive"))

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    slot: Mapped[int]
    name: Mapped[str] = mapped_column(String(200), default="")
    #: "Frau", "Herr" or empty (none stated): how letters greet the member.
    salutation: Mapped[str] = mapped_column(String(10), default="", server_default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    position: Mapped[str] = mapped_column(String(200), default="")

    case: Mapped[Case] = relationship(back_populates="team")


class StateWriteOutsideWorkflow(RuntimeError):
    """Somebody tried to set `Case.state` without going through the workflow."""


@event.listens_for(Case.state, "set", propagate=True)
def _only_the_workflow_writes_state(target: Case, value: str, oldvalue: object, initiator: object) -> None:
    """Nobody assigns `state` on a loaded case: `apply_transition` writes it with its own UPDATE."""
    if oldvalue is NO_VALUE or oldvalue is NEVER_SET:
        return  # a new object's initial value, or loading from the database
    raise StateWriteOutsideWorkflow("Case.state is written only by services.transitions.apply_transition")
