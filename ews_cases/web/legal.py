"""The legal pages a German public body publishes: Impressum (§ 5 DDG), Datenschutzerklärung (Art. 13 DSGVO),
Erklärung zur Barrierefreiheit (BITV NRW, § 10b BGG NRW) with its feedback form.

Their texts are packaged German defaults (`templates/legal/`) filled with the programme office's contact and
the key facts from the settings (EWS_OFFICE_*, EWS_LEGAL_*, EWS_DATA_PROTECTION_OFFICER, the retention
periods); an operator replaces a page's text with an HTML fragment `<page>.html` in EWS_LEGAL_DIR.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import EmailField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from ews_cases.db.request_session import db_session
from ews_cases.errors import ValidationFailed
from ews_cases.http.login_throttle import Counted, Limit
from ews_cases.i18n.translate import N_
from ews_cases.mail.letters import office
from ews_cases.services.accessibility_feedback import MAX_DESCRIPTION, MAX_LINE, report_barrier
from ews_cases.settings import current_settings
from ews_cases.web.extensions import login_throttle
from ews_cases.web.office_forms import ServiceErrors
from ews_cases.web.signin import locked_page, this_client

legal = Blueprint("legal", __name__)

#: Barrier reports per client address in an hour.
REPORTS_PER_ADDRESS = 5
#: The pages whose text an operator may replace: file name in EWS_LEGAL_DIR → template.
PAGES = {
    "impressum": "legal/impressum.html",
    "datenschutz": "legal/datenschutz.html",
    "barrierefreiheit": "legal/barrierefreiheit.html",
}


def operator_text(page: str) -> Markup | None:
    """The operator's HTML fragment for `page` from EWS_LEGAL_DIR, or None for the packaged text. The
    operator's own file, trusted like the settings: inserted as written."""
    folder = current_settings().legal_dir
    if folder is None:
        return None
    path = folder / f"{page}.html"
    return Markup(path.read_text(encoding="utf-8")) if path.is_file() else None


def _render(page: str, **extra: Any) -> str:
    return render_template(
        PAGES[page], custom=operator_text(page), office=office(), settings=current_settings(), **extra
    )


@legal.get("/impressum")
def imprint() -> str:
    return _render("impressum")


@legal.get("/datenschutz")
def privacy() -> str:
    return _render("datenschutz")


@legal.get("/barrierefreiheit")
def accessibility() -> str:
    return _render("barrierefreiheit")


class BarrierReportForm(ServiceErrors, FlaskForm):
    description = TextAreaField(
        N_("Welche Barriere ist Ihnen begegnet?"),
        validators=[DataRequired(N_("Bitte beschreiben Sie die Barriere.")), Length(max=MAX_DESCRIPTION)],
    )
    page = StringField(
        N_("Auf welcher Seite oder bei welcher Funktion?"), validators=[Optional(), Length(max=MAX_LINE)]
    )
    name = StringField(N_("Ihr Name (freiwillig)"), validators=[Optional(), Length(max=MAX_LINE)])
    email = EmailField(
        N_("Ihre E-Mail-Adresse für die Antwort (freiwillig)"), validators=[Optional(), Length(max=254)]
    )


@legal.route("/barrierefreiheit/rueckmeldung", methods=["GET", "POST"])
def report_barrier_page() -> Any:
    """Report a barrier to the programme office, without an account; limited per client address."""
    form = BarrierReportForm()
    if not form.validate_on_submit():
        return render_template("legal/feedback.html", form=form), (422 if form.errors else 200)
    until = login_throttle().attempt(
        [Counted(Limit("barrier-report", REPORTS_PER_ADDRESS, 3600), this_client())]
    )
    if until is not None:
        return locked_page(until, reason="barrier")
    store = db_session(write=True)
    try:
        report_barrier(
            store,
            description=form.description.data or "",
            page=form.page.data or "",
            name=form.name.data or "",
            email=form.email.data or "",
        )
    except ValidationFailed as refused:
        store.rollback()
        form.show_errors(refused.errors)
        return render_template("legal/feedback.html", form=form), 422
    store.commit()
    return render_template("legal/feedback_sent.html", office=office(), answer=bool(form.email.data))
