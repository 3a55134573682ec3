"""Firing a transition from the case page (routes of the `web` blueprint; `ews_cases.web.pages` loads this
module).

Consequential transitions (`TransitionSpec.confirm`: admit, reject, withdraw, drop out, return) are fired
from a confirmation page that says what will happen and who will be emailed — without JavaScript: the
case page's button opens it with GET, and its form posts with `confirmed`. A post without it changes
nothing and shows that page. Once done, the page says what happened (`TransitionSpec.done`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from ews_cases.db.request_session import db_session
from ews_cases.errors import DomainError
from ews_cases.i18n.translate import _
from ews_cases.models import Case
from ews_cases.services.admission import RANKING_RULE
from ews_cases.services.transitions import (
    Preview,
    apply_transition,
    preview_transition,
    transition_option,
)
from ews_cases.web.access import my_actor, readable_case
from ews_cases.web.forms import TransitionForm
from ews_cases.web.views import asks_confirmation, local_path, web
from workflows import STATE_LABELS, WORKFLOW, Decision, Refusal, RefusalKind, TransitionRefused
from workflows.guards import reason_given

#: Refusals that concern the reason box (shown next to it): none given, also for an override.
REASON_REFUSALS = frozenset({reason_given.code})
#: Value of `confirmed` posted by the confirmation page.
CONFIRMED = "ja"


def _next_url(target: str | None, case: Case) -> str:
    """Where to go after the action: the page it was started from if on this site, else the case page."""
    return target if target and local_path(target) else url_for("web.case_page", case_id=case.id)


def _refused_outright(decision: Decision) -> bool:
    """A role, state or name refusal: nothing to confirm (guards are shown on the confirmation page)."""
    return bool(decision.refusals) and decision.refusals[0].kind is not RefusalKind.GUARD_FAILED


def confirmation_page(
    case: Case,
    name: str,
    form: TransitionForm,
    *,
    preview: Preview | None = None,
    refusals: Sequence[Refusal] = (),
    version_seen: int | None = None,
    status: int = 200,
) -> Any:
    """The confirmation page of transition `name` with `form` (what was typed is kept)."""
    preview = preview or preview_transition(db_session(), case, my_actor(), name)
    decision = preview.decision
    if decision.refusals and decision.refusals[0].kind is RefusalKind.FORBIDDEN:
        abort(403)
    if decision.refusals and decision.refusals[0].kind is RefusalKind.UNKNOWN:
        abort(404)
    refusals = tuple(refusals) or decision.refusals
    reason_errors = [r.render(_) for r in refusals if r.code in REASON_REFUSALS]
    reason_errors += [_(message) for message in form.reason.errors]
    return render_template(
        "web/confirm_transition.html",
        case=case,
        preview=preview,
        spec=decision.spec,
        danger=decision.spec.irreversible,
        form=form,
        version=case.version,
        changed=version_seen is not None and version_seen != case.version,
        from_label=_(STATE_LABELS[preview.from_state]),
        to_label=_(STATE_LABELS[preview.to_state]),
        refusals=[r.render(_) for r in refusals if r.code not in REASON_REFUSALS],
        reason_errors=reason_errors,
        can_fire=not _refused_outright(decision) and (decision.allowed or preview.overridable),
        ask_reason=decision.spec.requires_reason or preview.overridable,
        back=_next_url(form.next.data, case),
        ranking_rule=_(RANKING_RULE),
    ), status


@web.get("/faelle/<int:case_id>/aktion/<name>/bestaetigen")
@login_required
def confirm_transition(case_id: int, name: str) -> Any:
    """What `name` would do to the case now and who would be emailed; its form fires it."""
    case = readable_case(case_id)
    form = TransitionForm(formdata=None, data={"name": name, "next": request.args.get("weiter", "")})
    preview = preview_transition(db_session(), case, my_actor(), name)
    if preview.decision.refusals and preview.decision.refusals[0].kind is RefusalKind.WRONG_STATE:
        for refusal in preview.decision.refusals:
            flash(refusal.render(_), "danger")
        return redirect(url_for("web.case_page", case_id=case.id), 303)
    version_seen = request.args.get("version", type=int)
    return confirmation_page(case, name, form, preview=preview, version_seen=version_seen)


@web.post("/faelle/<int:case_id>/aktion")
@login_required
def case_transition(case_id: int) -> Response | tuple[Any, int]:
    """Fire one transition; a refusal is shown with its reason and changes nothing."""
    session = db_session()
    case = readable_case(case_id)
    form = TransitionForm()
    actor = my_actor()
    if not form.validate_on_submit():
        if set(form.errors) != {"reason"}:
            abort(400)  # the CSRF token or a hidden field the page fills in
        return confirmation_page(case, form.name.data, form, status=422)  # a reason too long
    name = form.name.data
    decision = transition_option(session, case, actor, name)
    if decision.refusals and decision.refusals[0].kind is RefusalKind.FORBIDDEN:
        abort(403)  # SPEC §2: a write by a role that may not act (e.g. an auditor) is a 403
    if (
        not _refused_outright(decision)
        and asks_confirmation(decision, actor)
        and form.confirmed.data != CONFIRMED
    ):
        # Nothing changes: the confirmation page, with what was typed.
        return confirmation_page(case, name, form, version_seen=form.version.data)
    try:
        apply_transition(
            session,
            case,
            name,
            actor,
            form.version.data,
            form.reason.data or None,
            override=bool(form.override.data),
        )
        session.commit()
    except TransitionRefused as refused:
        session.rollback()
        if refused.kind is RefusalKind.FORBIDDEN:
            abort(403)
        if refused.kind is RefusalKind.GUARD_FAILED and form.confirmed.data == CONFIRMED:
            return confirmation_page(case, name, form, refusals=refused.refusals, status=422)
        for refusal in refused.refusals:
            flash(refusal.render(_), "danger")
        return redirect(url_for("web.case_page", case_id=case_id), 303)
    except DomainError as error:
        session.rollback()
        flash(error.render(_), "danger")
        return redirect(url_for("web.case_page", case_id=case_id), 303)
    flash(_(WORKFLOW.specs[name].done, ref=case.reference), "success")
    return redirect(_next_url(form.next.data, case), 303)
