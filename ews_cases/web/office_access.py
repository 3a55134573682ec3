"""Access on the programme office's pages (`/programm/zugaenge`): open invitations, requests for access
waiting for a decision, and the form to invite somebody. The office (and the admins) invite, confirm and
decline; auditors read the page and see no form. Routes of the `office` blueprint (`web.pages` loads this)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, render_template
from sqlalchemy import select
from werkzeug.wrappers import Response

from ews_cases.db.request_session import db_session
from ews_cases.errors import DomainError, NotFound, ValidationFailed
from ews_cases.i18n.translate import _
from ews_cases.models import AccessRequest, Municipality, User
from ews_cases.services.access_requests import (
    confirm_access_request,
    decline_access_request,
    get_access_request,
    pending_requests,
)
from ews_cases.services.invitations import invite, open_invitations
from ews_cases.settings import current_settings
from ews_cases.web.access import me, my_actor, roles_required
from ews_cases.web.access_forms import DeclineForm, InvitationForm
from ews_cases.web.admin_forms import ROLE_NAMES, ConfirmForm, municipality_label
from ews_cases.web.office import office, see_other

READERS = ("coordinator", "auditor", "admin")
ACTORS = ("coordinator", "admin")
SHOWN = 200


def _decline_form(request_id: int, *, posted: bool = False) -> DeclineForm:
    """One decline form per request on the page, with its own field names and ids."""
    prefix = f"anfrage{request_id}"
    return DeclineForm(prefix=prefix) if posted else DeclineForm(formdata=None, prefix=prefix)


def _page(invitation: InvitationForm | None = None, decline: DeclineForm | None = None) -> str:
    session = db_session()
    acting = me().role in ACTORS
    if invitation is None:
        invitation = InvitationForm(formdata=None, role="applicant")
    invitation.fill_choices(session, my_actor())
    requests = session.scalars(pending_requests().limit(SHOWN)).all()
    invitations = session.scalars(open_invitations().limit(SHOWN)).all()
    wanted = {r.municipality_ags for r in requests} | {i.municipality_ags for i in invitations}
    places = {
        m.ags: m for m in session.scalars(select(Municipality).where(Municipality.ags.in_(wanted - {None})))
    }
    taken = set(session.scalars(select(User.email).where(User.email.in_({r.email for r in requests}))))
    return render_template(
        "office/access.html",
        acting=acting,
        invitation_form=invitation,
        declines={
            r.id: decline if decline and decline._prefix == f"anfrage{r.id}-" else _decline_form(r.id)
            for r in requests
        },
        days=current_settings().invitation_valid_days,
        confirm=ConfirmForm(),
        requests=requests,
        invitations=invitations,
        places=places,
        taken=taken,
        role_names=ROLE_NAMES,
        municipality_label=municipality_label,
    )


@office.get("/zugaenge")
@roles_required(*READERS)
def access() -> str:
    """Open invitations and requests for access; for the office the forms to invite and decide."""
    return _page()


@office.post("/zugaenge/einladen")
@roles_required(*ACTORS)
def invite_person() -> Any:
    session = db_session()
    form = InvitationForm()
    if not form.validate_on_submit():
        return _page(invitation=form), 422
    try:
        invitation = invite(
            session,
            my_actor(),
            email=form.email.data,
            name=form.name.data,
            role=form.role.data or "",
            municipality_ags=form.municipality.data or None,
        )
    except ValidationFailed as refused:
        session.rollback()
        form.show_errors(refused.errors)
        return _page(invitation=form), 422
    except DomainError as refused:  # an account exists, or a role this person may not give
        session.rollback()
        target = form.email if refused.status == 409 else form.role
        target.errors = [*target.errors, refused.render(_)]
        return _page(invitation=form), refused.status
    session.commit()
    flash(_("Einladung an {email} verschickt.", email=invitation.email), "success")
    return see_other("office.access")


def _request_or_404(request_id: int) -> AccessRequest:
    try:
        return get_access_request(db_session(), request_id)
    except NotFound:
        abort(404)


@office.post("/zugaenge/anfragen/<int:request_id>/bestaetigen")
@roles_required(*ACTORS)
def confirm_request(request_id: int) -> Any:
    session = db_session()
    request = _request_or_404(request_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        confirm_access_request(session, my_actor(), request)
    except DomainError as refused:
        session.rollback()
        flash(refused.render(_), "danger")
        return _page(), refused.status
    session.commit()
    flash(_("Anfrage bestätigt: Einladung an {email} verschickt.", email=request.email), "success")
    return see_other("office.access")


@office.post("/zugaenge/anfragen/<int:request_id>/ablehnen")
@roles_required(*ACTORS)
def decline_request(request_id: int) -> Response | tuple[str, int]:
    session = db_session()
    request = _request_or_404(request_id)
    form = _decline_form(request.id, posted=True)
    if not form.validate_on_submit():
        return _page(decline=form), 422
    try:
        decline_access_request(session, my_actor(), request, form.reason.data)
    except ValidationFailed as refused:
        session.rollback()
        form.show_errors(refused.errors)
        return _page(decline=form), 422
    except DomainError as refused:
        session.rollback()
        flash(refused.render(_), "danger")
        return _page(), refused.status
    session.commit()
    flash(_("Anfrage abgelehnt; {email} erhält die Begründung per E-Mail.", email=request.email), "success")
    return see_other("office.access")
