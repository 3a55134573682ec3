"""Pages of the role `reviewer` (prefix `/gutachten`): the queue of cases to review and the review form."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for

from ews_cases.db.request_session import db_session
from ews_cases.errors import DomainError, ValidationFailed
from ews_cases.i18n.translate import _
from ews_cases.services.reviews import pending_reviews, readable_reviews, record_review, select_reviews_by
from ews_cases.web.access import me, readable_case, roles_required
from ews_cases.web.paging import paginate_rows
from ews_cases.web.review_forms import CRITERION_LABELS, RECOMMENDATION_LABELS, ReviewForm
from workflows import STATE_LABELS, Permission, State, permits

reviewer = Blueprint("reviewer", __name__, url_prefix="/gutachten")
#: Past reviews per page: a reviewer of many cohorts has hundreds.
HISTORY_PER_PAGE = 20


@reviewer.context_processor
def _helpers() -> dict[str, Any]:
    return {
        "criterion_labels": CRITERION_LABELS,
        "recommendation_labels": RECOMMENDATION_LABELS,
    }


@reviewer.get("")
@roles_required("reviewer")
def queue() -> str:
    """The cases waiting for this reviewer's review, and the reviews they already gave (`?seite=`)."""
    session = db_session()
    waiting = pending_reviews(session, me())
    mine = paginate_rows(session, select_reviews_by(me()), HISTORY_PER_PAGE)
    return render_template("reviewer/queue.html", waiting=waiting, mine=mine)


@reviewer.route("/<int:case_id>", methods=["GET", "POST"])
@roles_required("reviewer")
def review(case_id: int) -> Any:
    """The application read-only, and the review form while the case waits for this reviewer."""
    session = db_session()
    case = readable_case(case_id)  # 404 for drafts and conflicts of interest
    own = next(iter(readable_reviews(session, case, me())), None)  # a reviewer reads only their own
    form = ReviewForm()
    open_for_review = own is None and permits(case.state, Permission.REVIEW, me().role)
    problems: list[str] = []
    status = 200
    if form.is_submitted():
        if not open_for_review:
            status = 409  # the page says why: reviewed already, or no longer waiting for reviews
        elif not form.validate():
            problems = [_(m) for m in form.errors.get("csrf_token", [])]
            status = 422
        else:
            try:
                record_review(
                    session,
                    case,
                    me(),
                    scores=form.scores(),
                    recommendation=form.recommendation.data,
                    comment=form.comment.data or "",
                )
                session.commit()
            except ValidationFailed as invalid:
                session.rollback()
                problems = [_(m) for m in form.show_service_errors(invalid.errors)]
                status = 422
            except DomainError as refused:
                session.rollback()
                problems = [refused.render(_)]
                status = 409
            else:
                flash(_("Ihr Gutachten zu {reference} ist gespeichert.", reference=case.reference), "success")
                if case.state == State.REVIEWED:
                    flash(_("Damit ist die Bewerbung vollständig begutachtet."), "info")
                return redirect(url_for("reviewer.queue")), 303
    return render_template(
        "reviewer/review.html",
        case=case,
        state_label=_(STATE_LABELS[State(case.state)]),
        own=own,
        open_for_review=open_for_review,
        form=form,
        problems=problems,
    ), status
