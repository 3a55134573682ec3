"""Record a review; the `required_reviews`-th review moves the case to `reviewed` by itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import Session

from ews_cases.audit import chain
from ews_cases.errors import Conflict, Forbidden, ValidationFailed
from ews_cases.i18n.translate import N_, _
from ews_cases.models import CRITERIA, RECOMMENDATIONS, Case, Review, User
from ews_cases.services.actors import actor_for
from ews_cases.services.admission import RankedCase, mean_score, rank_of
from ews_cases.services.locking import lock_case
from ews_cases.services.permissions import has_conflict_of_interest, in_states, visible_cases
from ews_cases.services.transitions import apply_transition
from workflows import Actor, Permission, Role, permits, states_permitting


def pending_reviews(session: Session, reviewer: User) -> list[Case]:
    """Submitted cases `reviewer` may read (no conflict of interest) and has not reviewed yet, oldest first."""
    reviewed_already = exists().where(Review.case_id == Case.id, Review.reviewer_id == reviewer.id)
    return list(
        session.scalars(
            select(Case)
            .where(visible_cases(actor_for(reviewer), reviewer.municipality))
            .where(in_states(states_permitting(Permission.REVIEW, Role.REVIEWER)), ~reviewed_already)
            .order_by(Case.submitted_at, Case.id)
        ).unique()
    )


def select_reviews_by(reviewer: User) -> Select[tuple[Review, Case]]:
    """The reviews `reviewer` gave, newest first, each with its case (a statement: the page shows it in
    pages)."""
    return (
        select(Review, Case)
        .join(Case, Case.id == Review.case_id)
        .where(Review.reviewer_id == reviewer.id)
        .order_by(Review.created_at.desc(), Review.id.desc())
    )


def readable_reviews(session: Session, case: Case, reader: User) -> list[Review]:
    """The reviews of `case` that `reader` may read, oldest first: a reviewer only their own (to keep the
    assessments independent), coordinators and auditors all, other roles none."""
    role = actor_for(reader).role
    if not permits(case.state, Permission.READ_REVIEWS, role):
        return []
    query = select(Review).where(Review.case_id == case.id).order_by(Review.id)
    if role is Role.REVIEWER:
        query = query.where(Review.reviewer_id == reader.id)
    return list(session.scalars(query))


#: Scores of one criterion this far apart (0–5 scale) mean the reviewers disagree.
SCORE_SPREAD = 2


@dataclass(frozen=True, slots=True)
class Disagreement:
    """Where the reviews of one case part ways: different recommendations, or criteria scored
    `SCORE_SPREAD` or more apart. False when they agree (or there are fewer than two)."""

    #: The recommendations given, in review order, when they are not all the same; empty otherwise.
    recommendations: tuple[str, ...] = ()
    #: Criterion → highest minus lowest score, for the criteria spread by at least `SCORE_SPREAD`.
    spreads: Mapping[str, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.recommendations or self.spreads)


def disagreement(reviews: Sequence[Review]) -> Disagreement:
    """The one definition of reviewers disagreeing (the case page and whoever else asks use it)."""
    if len(reviews) < 2:
        return Disagreement()
    given = tuple(dict.fromkeys(r.recommendation for r in reviews))
    spreads = {}
    for criterion in CRITERIA:
        values = [getattr(r, criterion) for r in reviews]
        if max(values) - min(values) >= SCORE_SPREAD:
            spreads[criterion] = max(values) - min(values)
    return Disagreement(given if len(given) > 1 else (), spreads)


@dataclass(frozen=True, slots=True)
class ReviewRow:
    """One review as the case page shows it: with its reviewer's name and its own mean."""

    review: Review
    reviewer: str
    mean: float
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Assessment:
    """The reviews of a case a reader may read; the figures over all of them only for readers holding
    `Permission.ASSESSMENT` (a reviewer sees their own review, not the others' through a mean)."""

    reviews: list[ReviewRow]
    #: Whether the reader sees the whole: then `mean`, `criterion_means`, `disagreement` and `rank` apply.
    whole: bool = False
    mean: Decimal | float | None = None
    criterion_means: Mapping[str, float] = field(default_factory=dict)
    disagreement: Disagreement = field(default_factory=Disagreement)
    #: The place in the cohort's admission ranking (None unless reviewed or waitlisted).
    rank: RankedCase | None = None


def assessment(session: Session, case: Case, reader: User) -> Assessment:
    """The reviews of `case` that `reader` may read (`readable_reviews`), with names and, for those who
    may read them as a whole, the mean (as the ranking computes it), the disagreement and the rank."""
    reviews = readable_reviews(session, case, reader)
    query = select(User.id, User.name).where(User.id.in_({r.reviewer_id for r in reviews}))
    names: dict[int, str] = dict(session.execute(query).all())
    rows = [
        ReviewRow(r, names.get(r.reviewer_id, ""), sum(r.scores().values()) / len(CRITERIA), r.created_at)
        for r in reviews
    ]
    if not permits(case.state, Permission.ASSESSMENT, actor_for(reader).role):
        return Assessment(rows)
    return Assessment(
        rows,
        whole=True,
        mean=mean_score(session, case) if reviews else None,
        criterion_means=(
            {c: sum(getattr(r, c) for r in reviews) / len(reviews) for c in CRITERIA} if reviews else {}
        ),
        disagreement=disagreement(reviews),
        rank=rank_of(session, case),
    )


def record_review(
    session: Session,
    case: Case,
    reviewer: User,
    *,
    scores: Mapping[str, int],
    recommendation: str,
    comment: str = "",
) -> Review:
    """Store one review per reviewer and case, then fire `review` if enough have arrived."""
    actor = actor_for(reviewer)
    if actor.role is not Role.REVIEWER:
        raise Forbidden(N_("Nur Gutachterinnen und Gutachter können Bewertungen abgeben."))
    case = lock_case(session, case.id)  # serialises concurrent reviews of one case
    if has_conflict_of_interest(reviewer.municipality, case.municipality):
        raise Forbidden(N_("Wegen Befangenheit dürfen Sie diese Bewerbung nicht begutachten."))
    if not permits(case.state, Permission.REVIEW, actor.role):
        raise Conflict(N_("Begutachtet werden können nur eingereichte Bewerbungen."))
    errors: dict[str, list[str]] = {}
    for criterion in CRITERIA:
        value = scores.get(criterion)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 5:
            errors[f"scores.{criterion}"] = [_("Bitte eine ganze Zahl von 0 bis 5 angeben.")]
    if set(scores) - set(CRITERIA):
        errors["scores"] = [
            _("Unbekannte Kriterien: {names}", names=", ".join(sorted(set(scores) - set(CRITERIA))))
        ]
    if recommendation not in RECOMMENDATIONS:
        errors["recommendation"] = [_("Bitte eine der Empfehlungen admit, waitlist oder reject wählen.")]
    if errors:
        raise ValidationFailed(errors)
    if session.scalar(select(Review.id).where(Review.case_id == case.id, Review.reviewer_id == reviewer.id)):
        raise Conflict(N_("Sie haben diese Bewerbung bereits begutachtet."))
    review = Review(
        case_id=case.id,
        reviewer_id=reviewer.id,
        recommendation=recommendation,
        comment=comment.strip(),
        **{c: scores[c] for c in CRITERIA},
    )
    session.add(review)
    session.flush()
    chain.append(
        session,
        actor=actor,
        action="review.recorded",
        case=case,
        data={
            "review": review.id,
            "scores": review.scores(),
            "recommendation": recommendation,
            "comment": review.comment,
        },
    )
    count = session.scalar(select(func.count()).where(Review.case_id == case.id)) or 0
    if count >= case.cohort.required_reviews:
        apply_transition(session, case, "review", Actor.system("record_review"), case.version)
    return review
