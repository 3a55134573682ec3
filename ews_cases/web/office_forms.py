"""Forms of the programme office pages: cohorts, sessions, attendance, project decisions, revocations.

The forms only parse what was typed (German date and number formats, Europe/Berlin times); ranges, date
order and the Regierungsbezirk are checked by the services, whose messages are shown next to the fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    DateTimeLocalField,
    DecimalField,
    Field,
    HiddenField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from ews_cases.i18n.translate import N_
from ews_cases.services.cohorts import COHORT_FIELDS, REGIERUNGSBEZIRKE
from workflows import BERLIN

DATE_FORMATS = ["%Y-%m-%d", "%d.%m.%Y"]  # what `<input type="date">` sends, and what people type
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%d.%m.%Y %H:%M"]
NOT_A_DATE = N_("Bitte ein Datum angeben, z. B. 30.06.2027.")
NOT_A_TIME = N_("Bitte Datum und Uhrzeit angeben, z. B. 15.09.2027 10:00.")
NOT_A_NUMBER = N_("Bitte eine ganze Zahl angeben.")
NOT_A_DECIMAL = N_("Bitte eine Zahl angeben, z. B. 0,75.")
REQUIRED = N_("Bitte angeben.")

SESSION_KIND_LABELS = {
    "fachtagung": N_("Fachtagung"),
    "workshop": N_("Workshop"),
    "abschluss": N_("Abschlussveranstaltung"),
}
ATTENDANCE_LABELS = {"present": N_("anwesend"), "excused": N_("entschuldigt"), "absent": N_("abwesend")}


def _date(label: str, *validators: Any) -> DateField:
    return DateField(
        label,
        validators=list(validators) or [Optional()],
        format=DATE_FORMATS,
        invalid_value_message=NOT_A_DATE,
    )


class GermanDecimalField(DecimalField):
    """A decimal that also accepts the German comma (0,75)."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        super().process_formdata([v.replace(",", ".") if isinstance(v, str) else v for v in valuelist])


class DayListField(StringField):
    """Days before the deadline as "14, 7, 3, 1"."""

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        return ", ".join(str(day) for day in self.data or [])

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist:
            return
        parts = [part.strip() for part in str(valuelist[0]).replace(";", ",").split(",") if part.strip()]
        try:
            self.data = [int(part) for part in parts]
        except ValueError:
            self.data = None
            raise ValueError(
                N_("Bitte ganze Tage durch Kommas getrennt angeben, z. B. 14, 7, 3, 1.")
            ) from None


class ServiceErrors:
    """Shows a service's `ValidationFailed.errors` next to the fields they name."""

    form_errors: list[str]

    def show_errors(self, errors: Mapping[str, Sequence[str]]) -> None:
        """Field messages next to their fields; messages for no field go to the form as a whole."""
        for name, messages in errors.items():
            target = getattr(self, name, None)
            if isinstance(target, Field):
                target.errors = [*target.errors, *messages]
            else:
                self.form_errors.extend(messages)


class CohortForm(ServiceErrors, FlaskForm):
    """Every setting of a cohort; the new-cohort page adds the number."""

    title = StringField(N_("Titel"), validators=[DataRequired(REQUIRED), Length(max=200)])
    region = SelectField(
        N_("Aufruf beschränkt auf Regierungsbezirk"),
        choices=[SelectChoice("", N_("ganz NRW")), *[SelectChoice(name) for name in REGIERUNGSBEZIRKE]],
        validate_choice=False,  # the service names the allowed values
    )
    applications_open_at = DateTimeLocalField(
        N_("Bewerbungsphase beginnt (Ortszeit)"),
        validators=[Optional()],
        format=DATETIME_FORMATS,
        tz=BERLIN,
        invalid_value_message=NOT_A_TIME,
    )
    application_deadline = _date(N_("Bewerbungsfrist (bis 23:59:59 Uhr)"), InputRequired(REQUIRED))
    capacity = IntegerField(
        N_("Plätze (Standorte)"), validators=[InputRequired(REQUIRED)], invalid_value_message=NOT_A_NUMBER
    )
    team_size = IntegerField(
        N_("Personen je Entwicklungsteam"),
        validators=[InputRequired(REQUIRED)],
        invalid_value_message=NOT_A_NUMBER,
    )
    starts_on = _date(N_("Beginn"))
    ends_on = _date(N_("Ende"))
    reminder_days = DayListField(
        N_("Erinnerungen (Tage vor der Frist)"), validators=[InputRequired(REQUIRED)]
    )
    min_attendance = GermanDecimalField(
        N_("Mindestanteil besuchter Workshops (0 bis 1)"),
        places=2,
        validators=[InputRequired(REQUIRED)],
        invalid_value_message=NOT_A_DECIMAL,
    )
    required_reviews = IntegerField(
        N_("Nötige Gutachten je Bewerbung"),
        validators=[InputRequired(REQUIRED)],
        invalid_value_message=NOT_A_NUMBER,
    )
    ceremony_on = _date(N_("Abschlussveranstaltung am"))
    ceremony_place = StringField(N_("Ort der Abschlussveranstaltung"), validators=[Length(max=120)])
    signatory_name = StringField(N_("Unterzeichnet von (Name)"), validators=[Length(max=200)])
    signatory_title = StringField(N_("Unterzeichnet von (Funktion)"), validators=[Length(max=200)])
    funding_eur = GermanDecimalField(
        N_("Landesförderung in Euro"), places=2, validators=[Optional()], invalid_value_message=NOT_A_DECIMAL
    )

    def values(self) -> dict[str, Any]:
        """The settings as the cohort services take them (blank optional text becomes None)."""
        values = {name: getattr(self, name).data for name in COHORT_FIELDS}
        for name in ("region", "ceremony_place", "signatory_name", "signatory_title"):
            text = (values[name] or "").strip()
            values[name] = text or None
        values["title"] = (values["title"] or "").strip()
        return values

    def changes(self, current: Any) -> dict[str, Any]:
        """Only the settings that differ from `current` (times compared to the minute the form shows)."""
        return {
            name: value for name, value in self.values().items() if not _same(getattr(current, name), value)
        }


class NewCohortForm(CohortForm):
    number = IntegerField(
        N_("Nummer des Durchgangs"),
        validators=[
            InputRequired(REQUIRED),
            NumberRange(1, 10_000, message=N_("Erlaubt sind Werte von 1 bis 10000.")),
        ],
        invalid_value_message=NOT_A_NUMBER,
    )


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, datetime) and isinstance(new, datetime):  # the form shows minutes, in Berlin time
        return old.astimezone(BERLIN).replace(second=0, microsecond=0) == new
    return bool(old == new)


class SessionForm(ServiceErrors, FlaskForm):
    kind = SelectField(
        N_("Art"),
        choices=[SelectChoice(kind, label) for kind, label in SESSION_KIND_LABELS.items()],
        validate_choice=False,  # the service names the allowed kinds
    )
    title = StringField(N_("Titel"), validators=[DataRequired(REQUIRED), Length(max=200)])
    starts_at = DateTimeLocalField(
        N_("Beginn (Ortszeit)"),
        validators=[InputRequired(REQUIRED)],
        format=DATETIME_FORMATS,
        tz=BERLIN,
        invalid_value_message=NOT_A_TIME,
    )
    ends_at = DateTimeLocalField(
        N_("Ende (Ortszeit)"),
        validators=[InputRequired(REQUIRED)],
        format=DATETIME_FORMATS,
        tz=BERLIN,
        invalid_value_message=NOT_A_TIME,
    )
    location = StringField(N_("Ort"), validators=[Length(max=200)])

    def values(self) -> dict[str, Any]:
        return {
            "kind": self.kind.data or "",
            "title": self.title.data or "",
            "starts_at": self.starts_at.data,
            "ends_at": self.ends_at.data,
            "location": self.location.data or "",
        }


class AttendanceForm(FlaskForm):
    """Only the CSRF token: the grid's cells (`cell-<member>-<session>`) are read by `cells()`."""

    @staticmethod
    def cell_name(member_id: int, session_id: int) -> str:
        return f"cell-{member_id}-{session_id}"

    def cells(
        self, form: Mapping[str, str], member_ids: list[int], session_ids: list[int]
    ) -> dict[tuple[int, int], str]:
        """The submitted status per (member, session); empty cells (not recorded yet) are left out."""
        chosen = {}
        for member_id in member_ids:
            for session_id in session_ids:
                value = form.get(self.cell_name(member_id, session_id), "")
                if value:
                    chosen[(member_id, session_id)] = value
        return chosen


#: The two decisions on a submitted practice project → the project status they ask the service for.
PROJECT_DECISIONS = {"approve": "approved", "return": "planned"}


class ProjectDecisionForm(ServiceErrors, FlaskForm):
    """Approve the submitted practice project, or return it to the team with a reason."""

    decision = HiddenField(validators=[DataRequired()])
    reason = TextAreaField(N_("Begründung der Rückgabe"), validators=[Length(max=5000)])


class RevocationForm(ServiceErrors, FlaskForm):
    certificate = IntegerField(validators=[InputRequired()])
    reason = TextAreaField(N_("Begründung des Widerrufs"), validators=[Length(max=5000)])
    #: Set by the confirmation page: the revocation is final.
    confirmed = HiddenField()


class SessionChangeForm(SessionForm):
    """Move a session: title, times and place (its kind stays)."""

    kind = None  # type: ignore[assignment]

    def values(self) -> dict[str, Any]:
        return {
            "title": self.title.data or "",
            "starts_at": self.starts_at.data,
            "ends_at": self.ends_at.data,
            "location": self.location.data or "",
        }


class SessionCancelForm(ServiceErrors, FlaskForm):
    reason = TextAreaField(N_("Grund der Absage"), validators=[Length(max=5000)])


class ReplacementForm(ServiceErrors, FlaskForm):
    """Replace a certificate by a corrected one: the reason, and the name as it should read."""

    reason = TextAreaField(N_("Begründung der Korrektur"), validators=[Length(max=5000)])
    holder_name = StringField(N_("Name auf dem neuen Zertifikat"), validators=[Length(max=200)])


class EarlyReleaseForm(ServiceErrors, FlaskForm):
    """Release a cohort's prepared certificates before the ceremony day."""

    reason = TextAreaField(N_("Begründung der vorzeitigen Freigabe"), validators=[Length(max=5000)])


class PersonRequestForm(ServiceErrors, FlaskForm):
    """A request by a person (Art. 15 or 17): the email address it is about; for an erasure, the reason
    recorded with it and the confirmation set by the preview."""

    email = StringField(N_("E-Mail-Adresse der Person"), validators=[Length(max=320)])
    reason = TextAreaField(
        N_("Anlass der Löschung (z. B. Antrag vom …; keine Namen)"), validators=[Length(max=500)]
    )
    #: Set by the preview page: the erasure is final.
    confirmed = HiddenField()


class LegalHoldForm(ServiceErrors, FlaskForm):
    """Set or lift a case's legal hold, with a reason."""

    reason = TextAreaField(N_("Begründung"), validators=[Length(max=500)])
