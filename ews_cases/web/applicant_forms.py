"""Forms of the applicant pages: the application (new and draft) and the practice project.

No field is required here: a draft may be incomplete. What a submission needs is decided by the workflow's
guards, and the pages place their reasons next to the fields (`place_field_errors`, `place_refusals`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask_wtf import FlaskForm
from sqlalchemy.orm import Session
from wtforms import (
    BooleanField,
    EmailField,
    FieldList,
    Form,
    FormField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TelField,
    TextAreaField,
)
from wtforms.fields.core import Field
from wtforms.validators import DataRequired, Length, Optional, Regexp

from ews_cases.i18n.translate import N_, _
from ews_cases.models import ANSWER_FIELDS, Case
from ews_cases.services.cases import CaseInput, MemberInput
from ews_cases.services.facts import FIELD_LABELS, CaseSubject, team_problems
from workflows import Refusal

TOO_LONG = N_("Diese Angabe ist zu lang.")
#: The API's limit for free text (`api.case_schemas.TEXT`).
TEXT_LIMIT = 20_000
MAX_TEAM_ROWS = 20

#: Explanations under the four questions of the application.
ANSWER_HELP = {
    "motivation": N_("Warum möchte Ihre Kommune an der Entwicklungswerkstatt teilnehmen?"),
    "starting_point": N_(
        "Wie wird bürgerschaftliches Engagement in Ihrer Kommune heute gefördert, und was fehlt noch?"
    ),
    "goals": N_("Was möchten Sie mit der Teilnahme erreichen, zum Beispiel eine Engagementstrategie?"),
    "leadership_support": N_(
        "Name und Funktion der Person an der Verwaltungsspitze, die die Bewerbung unterstützt "
        "(z. B. Bürgermeisterin, Landrat)."
    ),
}


def _text(limit: int) -> list[Any]:
    return [Optional(), Length(max=limit, message=TOO_LONG)]


#: The choices of every salutation field: none stated (e.g. for "divers"), Frau, Herr.
SALUTATION_CHOICES = [
    SelectChoice("", N_("keine Angabe")),
    SelectChoice("Frau", N_("Frau")),
    SelectChoice("Herr", N_("Herr")),
]


def _salutation_field(label: str) -> SelectField:
    return SelectField(label, choices=SALUTATION_CHOICES, default="", validate_choice=False)


class MemberForm(Form):
    """One person of the development team (a row of the application form)."""

    salutation = _salutation_field(N_("Anrede"))
    name = StringField(N_("Name"), validators=_text(200))
    email = EmailField(N_("E-Mail"), validators=_text(254))
    position = StringField(N_("Funktion"), validators=_text(200))


class CaseForm(FlaskForm):
    """The content of an application: contact, team, the four answers, consent."""

    contact_salutation = _salutation_field(N_("Ansprechperson: Anrede"))
    contact_name = StringField(N_("Ansprechperson: Name"), validators=_text(200))
    contact_email = EmailField(N_("Ansprechperson: E-Mail"), validators=_text(254))
    contact_phone = TelField(N_("Ansprechperson: Telefon"), validators=_text(50))
    team = FieldList(FormField(MemberForm), max_entries=MAX_TEAM_ROWS)
    motivation = TextAreaField(N_("Motivation"), validators=_text(TEXT_LIMIT))
    starting_point = TextAreaField(N_("Ausgangslage"), validators=_text(TEXT_LIMIT))
    goals = TextAreaField(N_("Ziele"), validators=_text(TEXT_LIMIT))
    leadership_support = TextAreaField(
        N_("Unterstützung der Verwaltungsspitze"), validators=_text(TEXT_LIMIT)
    )
    consent = BooleanField(
        N_(
            "Ich willige ein, dass die Angaben dieser Bewerbung für das Auswahlverfahren und die Durchführung "
            "der Entwicklungswerkstatt verarbeitet werden."
        )
    )

    #: Problems of the team as a whole (shown at the team's fieldset).
    team_errors: list[str]
    #: Messages that belong to no single field (shown above the form).
    general_errors: list[str]

    def __init__(self, *args: Any, team_size: int = 2, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.team_errors = []
        self.general_errors = []
        while len(self.team) < min(team_size, MAX_TEAM_ROWS):
            self.team.append_entry()

    def content(self) -> CaseInput:
        """What was typed, as the service's input (empty team rows at the end are dropped)."""
        members = [
            MemberInput(
                name=row.form.name.data or "",
                email=row.form.email.data or "",
                position=row.form.position.data or "",
                salutation=row.form.salutation.data or "",
            )
            for row in self.team
        ]
        while members and members[-1] == MemberInput():
            members.pop()
        return CaseInput(
            contact_name=self.contact_name.data or "",
            contact_email=self.contact_email.data or "",
            contact_phone=self.contact_phone.data or "",
            contact_salutation=self.contact_salutation.data or "",
            team=members,
            answers={name: getattr(self, name).data or "" for name in ANSWER_FIELDS},
            consent=bool(self.consent.data),
        )

    def answer_fields(self) -> list[Field]:
        return [getattr(self, name) for name in ANSWER_FIELDS]


def _cohort_number(value: object) -> int | None:
    """The chosen cohort's number; None for the empty first option (a required select needs one)."""
    return None if value in ("", None) else int(value)  # type: ignore[arg-type]


class NewCaseForm(CaseForm):
    cohort = SelectField(
        N_("Durchgang"),
        coerce=_cohort_number,
        validators=[DataRequired(N_("Bitte wählen Sie einen Durchgang."))],
        validate_choice=False,  # the service refuses a closed or unknown cohort with its own message
    )
    municipality = StringField(
        N_("Kommune"),
        validators=[
            DataRequired(N_("Bitte wählen Sie eine Kommune aus.")),
            Regexp(r"^\d{8}$", message=N_("Bitte wählen Sie eine Kommune aus.")),
        ],
    )


class EditCaseForm(CaseForm):
    version = IntegerField(validators=[DataRequired()])


def case_form_data(case: Case) -> dict[str, Any]:
    """A stored draft as form data (for the edit page)."""
    return {
        "contact_name": case.contact_name,
        "contact_email": case.contact_email,
        "contact_phone": case.contact_phone,
        "contact_salutation": case.contact_salutation,
        "team": [
            {"salutation": m.salutation, "name": m.name, "email": m.email, "position": m.position}
            for m in case.team
        ],
        **case.answers(),
        "consent": case.consent,
        "version": case.version,
    }


def _add_errors(field: Field, messages: Sequence[str]) -> None:
    field.errors = [*field.errors, *messages]


def _field_for(form: CaseForm, key: str) -> Field | None:
    """The form field a service error key names: `contact.email`, `team.0.email`, `motivation`, ..."""
    parts = key.split(".")
    if parts[0] == "contact" and len(parts) == 2:
        return getattr(form, f"contact_{parts[1]}", None)
    if parts[0] == "team" and len(parts) == 3 and parts[1].isdigit():
        index = int(parts[1])
        if index < len(form.team):
            return getattr(form.team[index].form, parts[2], None)
        return None
    field = getattr(form, key, None) if len(parts) == 1 else None
    return field if isinstance(field, Field) else None


def place_field_errors(form: CaseForm, errors: Mapping[str, Sequence[str]]) -> None:
    """Show a service's `ValidationFailed.errors` next to their fields (or above the form)."""
    for key, messages in errors.items():
        if key == "team":
            form.team_errors.extend(messages)
            continue
        field = _field_for(form, key)
        if field is None:
            form.general_errors.extend(messages)
        else:
            _add_errors(field, messages)


def place_refusals(form: CaseForm, case: Case, refusals: Sequence[Refusal], session: Session) -> list[str]:
    """Put the reasons of a refused submission next to the fields they concern; return them all as text.

    Which answers are missing and what the team lacks come from the same facts the guards read.
    """
    for refusal in refusals:
        if refusal.code == "answers_missing":
            keys = {_(label): key for key, label in FIELD_LABELS.items()}
            for label in CaseSubject(session, case).missing_answers:
                field = _field_for(form, keys.get(label, ""))
                if field is not None:
                    _add_errors(field, [_("Bitte ergänzen Sie diese Angabe.")])
        elif refusal.code == "team_incomplete":
            form.team_errors.extend(team_problems(case))
        elif refusal.code == "consent_missing":
            _add_errors(form.consent, [refusal.render(_)])
    return [refusal.render(_) for refusal in refusals]


class ProjectForm(FlaskForm):
    title = StringField(N_("Titel des Praxisprojekts"), validators=_text(300))
    summary = TextAreaField(N_("Zusammenfassung"), validators=_text(TEXT_LIMIT))
    report = TextAreaField(N_("Bericht"), validators=_text(TEXT_LIMIT))

    general_errors: list[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.general_errors = []

    def place_errors(self, errors: Mapping[str, Sequence[str]]) -> None:
        for key, messages in errors.items():
            field = getattr(self, key, None)
            if isinstance(field, Field) and key in ("title", "summary", "report"):
                _add_errors(field, messages)
            else:
                self.general_errors.extend(messages)
