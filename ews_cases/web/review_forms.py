"""The reviewer's form: five criteria scored 0–5, a recommendation and a comment (German labels).

The form only checks that something sensible was chosen; `services.reviews.record_review` decides.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField, SelectChoice, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from ews_cases.i18n.translate import N_
from ews_cases.models import CRITERIA

#: The criteria in the order of `models.CRITERIA`, with their German labels.
CRITERION_LABELS: dict[str, str] = {
    "need": N_("Bedarf"),
    "strategy": N_("Strategie"),
    "leadership": N_("Rückhalt der Verwaltungsspitze"),
    "capacity": N_("Kapazität"),
    "network": N_("Vernetzung"),
}
RECOMMENDATION_LABELS: dict[str, str] = {
    "admit": N_("Zulassen"),
    "waitlist": N_("Warteliste"),
    "reject": N_("Ablehnen"),
}
SCORE_MESSAGE = N_("Bitte wählen Sie einen Wert von 0 bis 5.")
RECOMMENDATION_MESSAGE = N_("Bitte wählen Sie eine Empfehlung: Zulassen, Warteliste oder Ablehnen.")


def _score(label: str) -> RadioField:
    return RadioField(
        label,
        choices=[SelectChoice(value, str(value)) for value in range(6)],
        coerce=int,
        validators=[InputRequired(SCORE_MESSAGE)],
        invalid_value_message=SCORE_MESSAGE,
        invalid_choice_message=SCORE_MESSAGE,
    )


class ReviewForm(FlaskForm):
    need = _score(CRITERION_LABELS["need"])
    strategy = _score(CRITERION_LABELS["strategy"])
    leadership = _score(CRITERION_LABELS["leadership"])
    capacity = _score(CRITERION_LABELS["capacity"])
    network = _score(CRITERION_LABELS["network"])
    recommendation = RadioField(
        N_("Empfehlung"),
        choices=[SelectChoice(value, label) for value, label in RECOMMENDATION_LABELS.items()],
        validators=[InputRequired(RECOMMENDATION_MESSAGE)],
        invalid_choice_message=RECOMMENDATION_MESSAGE,
    )
    comment = TextAreaField(
        N_("Kommentar"),
        validators=[Optional(), Length(max=5000, message=N_("Höchstens 5000 Zeichen."))],
    )

    def criteria(self) -> list[RadioField]:
        return [self[name] for name in CRITERIA]

    def scores(self) -> dict[str, int]:
        return {name: self[name].data for name in CRITERIA}

    def show_service_errors(self, errors: dict[str, list[str]]) -> list[str]:
        """Put the service's field errors (`scores.need`, `recommendation`) next to the fields;
        returns those that belong to no field."""
        unplaced: list[str] = []
        for key, messages in errors.items():
            name = key.removeprefix("scores.")
            if name in CRITERIA or name == "recommendation":
                self[name].errors = [*self[name].errors, *messages]
            else:
                unplaced += messages
        return unplaced
