"""Who may open a page: the same roles as the API, the same case rules (`services.permissions`)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort
from flask_login import current_user, login_required

from ews_cases.db.request_session import db_session
from ews_cases.models import Case, User
from ews_cases.services.actors import actor_for
from ews_cases.services.permissions import can_read_case
from workflows import Actor

F = TypeVar("F", bound=Callable[..., Any])


def roles_required(*roles: str) -> Callable[[F], F]:
    """Login required; other roles get 403."""

    def decorate(view: F) -> F:
        @wraps(view)
        @login_required
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate


def me() -> User:
    return current_user._get_current_object()  # type: ignore[no-any-return]


def my_actor() -> Actor:
    return actor_for(me())


def readable_case(case_id: int) -> Case:
    """The case if the current user may read it; 404 otherwise (as in the API)."""
    case = db_session().get(Case, case_id)
    if case is None or not can_read_case(my_actor(), case, me().municipality):
        abort(404)
    return case
