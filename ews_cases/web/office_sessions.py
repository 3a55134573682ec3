"""Pages of the programme office for one session of a cohort: move it or call it off (prefix `/programm`).

Both tell the session's invitees with a calendar update or cancellation (services/session_changes.py).
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, render_template
from sqlalchemy.orm import Session

from ews_cases.db.request_session import db_session
from ews_cases.errors import Conflict, NotFound, ValidationFailed
from ews_cases.i18n.translate import _
from ews_cases.models import CohortSession
from ews_cases.services.session_changes import cancel_session, change_session, get_session
from ews_cases.web.access import my_actor, roles_required
from ews_cases.web.office import office, see_other
from ews_cases.web.office_forms import SessionCancelForm, SessionChangeForm


def _session_or_404(session: Session, number: int, session_id: int) -> CohortSession:
    try:
        return get_session(session, number, session_id)
    except NotFound:
        abort(404)


def _page(event: CohortSession, change: SessionChangeForm, cancel: SessionCancelForm) -> tuple[str, int]:
    status = 422 if change.errors or cancel.errors else 200
    return render_template(
        "office/session_change.html", event=event, cohort=event.cohort, form=change, cancel_form=cancel
    ), status


@office.route("/durchgaenge/<int:number>/termine/<int:session_id>", methods=["GET", "POST"])
@roles_required("coordinator")
def change_session_page(number: int, session_id: int) -> Any:
    """Move a session (date, time, place, title); its invitees get a calendar update."""
    session = db_session()
    event = _session_or_404(session, number, session_id)
    form = SessionChangeForm(obj=event)
    if form.validate_on_submit():
        try:
            change_session(session, my_actor(), event, **form.values())
            session.commit()
        except (ValidationFailed, Conflict) as error:
            session.rollback()
            if isinstance(error, ValidationFailed):
                form.show_errors(error.errors)
            else:
                form.form_errors.append(error.render(_))
        else:
            flash(_("Termin „{title}“ gespeichert.", title=event.title), "success")
            return see_other("office.dashboard", durchgang=number)
    return _page(event, form, SessionCancelForm(formdata=None))


@office.post("/durchgaenge/<int:number>/termine/<int:session_id>/absagen")
@roles_required("coordinator")
def cancel_session_page(number: int, session_id: int) -> Any:
    """Call a session off with a reason; its invitees get a calendar cancellation."""
    session = db_session()
    event = _session_or_404(session, number, session_id)
    form = SessionCancelForm()
    if form.validate_on_submit():
        try:
            cancel_session(session, my_actor(), event, reason=form.reason.data or "")
            session.commit()
        except (ValidationFailed, Conflict) as error:
            session.rollback()
            if isinstance(error, ValidationFailed):
                form.show_errors(error.errors)
            else:
                form.form_errors.append(error.render(_))
        else:
            flash(_("Termin „{title}“ abgesagt.", title=event.title), "success")
            return see_other("office.dashboard", durchgang=number)
    return _page(event, SessionChangeForm(formdata=None, obj=event), form)
