"""Turn a stored user into the workflow's `Actor`."""

from __future__ import annotations

from ews_cases.models import User
from workflows import Actor, Role


def actor_for(user: User) -> Actor:
    return Actor(role=Role(user.role), user_id=user.id, municipality_ags=user.municipality_ags)
