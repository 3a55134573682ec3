"""Municipalities of NRW (reference list) and the contacts who receive the deadline reminders."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ews_cases.models.base import Base, utcnow

MUNICIPALITY_TYPES = ("kreisfreie Stadt", "Stadt", "Gemeinde", "Kreis")


class Municipality(Base):
    __tablename__ = "municipalities"
    __table_args__ = (
        CheckConstraint("length(ags) = 8", name="ags_length"),
        CheckConstraint("type IN ('kreisfreie Stadt', 'Stadt', 'Gemeinde', 'Kreis')", name="type"),
    )

    ags: Mapped[str] = mapped_column(String(8), primary_key=True)
    name: Mapped[str] = mapped_column(String(120), index=True)
    type: Mapped[str] = mapped_column(String(20))
    kreis_ags: Mapped[str] = mapped_column(String(8))
    kreis_name: Mapped[str] = mapped_column(String(120))
    regierungsbezirk: Mapped[str] = mapped_column(String(40))

    @property
    def affiliation_keys(self) -> frozenset[str]:
        """AGS keys a person affiliated with this municipality is tied to: itself and its Kreis."""
        return frozenset({self.ags, self.kreis_ags})


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("municipality_ags", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_ags: Mapped[str] = mapped_column(ForeignKey("municipalities.ags"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    #: "Frau", "Herr" or empty (none stated): how the reminders greet the contact.
    salutation: Mapped[str] = mapped_column(String(10), default="", server_default="")
    email: Mapped[str] = mapped_column(String(254))
    unsubscribe_token: Mapped[str] = mapped_column(String(64), unique=True)
    opted_out_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
