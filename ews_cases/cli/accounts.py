"""`ews users list|invite|deactivate|reactivate` and `ews tokens list|revoke`: account administration for
operators.

The same services as the admin pages and the API, in one transaction per command; every change is audited
with a system actor naming the command (`system:cli:users-deactivate`). Refusals are printed in the
services' (German) words on stderr: exit 1 when the person or token does not exist, 2 when refused.
"""

from __future__ import annotations

from collections.abc import Callable

import click

from ews_cases.cli.commands import _app_context, _database, main, refusals_printed, users
from ews_cases.i18n.translate import _
from ews_cases.models import USER_ROLES, ApiToken, User, utcnow
from workflows import Actor


def _user_line(user: User) -> str:
    place = f"  {user.municipality_ags} {user.municipality.name}" if user.municipality else ""
    status = "active" if user.active else "inactive"
    return f"{user.id:>6} {user.role:<11} {status:<8} {user.email:<40} {user.name}{place}"


@users.command("list")
@click.option("--role", type=click.Choice(USER_ROLES), default=None)
@click.option("--search", "text", default=None, help="Part of the name or email address.")
@click.option(
    "--municipality", default=None, help="Part of the municipality's name, or the start of its AGS."
)
@click.option("--status", type=click.Choice(["active", "inactive"]), default=None)
def users_list(role: str | None, text: str | None, municipality: str | None, status: str | None) -> None:
    """List users by name: id, role, status, email, name, municipality."""
    from ews_cases.services.accounts import find_users

    with _database().transaction() as session:
        stmt = find_users(text=text, role=role, municipality=municipality, status=status)
        found = session.scalars(stmt.order_by(User.name, User.id)).all()
        for user in found:
            click.echo(_user_line(user))
    click.echo(_("Zugänge: {count}", count=len(found)), err=True)


@users.command("invite")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice(USER_ROLES))
@click.option("--municipality", "municipality_ags", default=None, help="AGS (applicants: required).")
def users_invite(email: str, name: str, role: str, municipality_ags: str | None) -> None:
    """Invite a person: an email with a single-use link (EWS_INVITATION_VALID_DAYS) sets their password.

    An address that already has an account is refused (exit 2); an open invitation is renewed.
    """
    from ews_cases.services.invitations import invite

    with refusals_printed(), _app_context(), _database().transaction() as session:
        invitation = invite(
            session,
            Actor.system("cli:users-invite"),
            email=email,
            name=name,
            role=role,
            municipality_ags=municipality_ags,
        )
        place = " " + invitation.municipality_ags if invitation.municipality_ags else ""
        line = _(
            "eingeladen: Einladung {id} <{email}> Rolle {role}{place} bis {until}",
            id=invitation.id,
            email=invitation.email,
            role=invitation.role,
            place=place,
            until=invitation.expires_at.isoformat(timespec="minutes"),
        )
    click.echo(line)


def _change_activity(email: str, reason: str | None, command: str, active: bool) -> None:
    from ews_cases.services.accounts import deactivate_user, reactivate_user, user_by_email

    change: Callable[..., User] = reactivate_user if active else deactivate_user
    with refusals_printed(), _database().transaction() as session:
        user = user_by_email(session, email)
        was_active = user.active
        change(session, Actor.system(f"cli:{command}"), user, reason=reason)
        line = _user_line(user)
    if was_active == active:
        outcome = _("unverändert, bereits aktiv") if active else _("unverändert, bereits inaktiv")
    else:
        outcome = _("reaktiviert") if active else _("deaktiviert")
    click.echo(f"{outcome}: {line.strip()}")


@users.command("deactivate")
@click.argument("email")
@click.option("--reason", default=None, help="Recorded in the audit trail.")
def users_deactivate(email: str, reason: str | None) -> None:
    """Deactivate a user: their web sessions end and their API tokens are refused at once."""
    _change_activity(email, reason, "users-deactivate", active=False)


@users.command("reactivate")
@click.argument("email")
@click.option("--reason", default=None, help="Recorded in the audit trail.")
def users_reactivate(email: str, reason: str | None) -> None:
    """Reactivate a deactivated user (they log in anew; their unrevoked, unexpired tokens work again)."""
    _change_activity(email, reason, "users-reactivate", active=True)


@main.group()
def tokens() -> None:
    """API tokens."""


def _token_line(token: ApiToken, email: str) -> str:
    expires = token.expires_at.isoformat(timespec="seconds") if token.expires_at else _("nie")
    used = token.last_used_at.isoformat(timespec="seconds") if token.last_used_at else _("nie")
    status = token.status_at(utcnow())
    times = _("gültig bis {expires}  zuletzt benutzt {used}", expires=expires, used=used)
    return f"{token.id:>6} {status:<8} {email:<40} {token.name or '-':<20} {times}"


@tokens.command("list")
@click.option("--user", "email", default=None, help="Only this user's tokens (email address).")
def tokens_list(email: str | None) -> None:
    """List API tokens (never the secrets): id, status, user, name, expiry, last use."""
    from ews_cases.services.accounts import find_tokens, user_by_email

    with refusals_printed(), _database().transaction() as session:
        owner = user_by_email(session, email) if email else None
        found = session.scalars(find_tokens(owner.id if owner else None).order_by(ApiToken.id)).all()
        for token in found:
            click.echo(_token_line(token, token.user.email))
    click.echo(_("Tokens: {count}", count=len(found)), err=True)


@tokens.command("revoke")
@click.argument("token_id", type=int)
def tokens_revoke(token_id: int) -> None:
    """Revoke an API token by its id (see `ews tokens list`); it is refused from now on."""
    from ews_cases.services.accounts import get_token, revoke_api_token

    with refusals_printed(), _database().transaction() as session:
        already = get_token(session, token_id).revoked_at is not None
        token = revoke_api_token(session, Actor.system("cli:tokens-revoke"), token_id)
        line = _token_line(token, token.user.email)
    outcome = _("unverändert, bereits widerrufen") if already else _("widerrufen")
    click.echo(f"{outcome}: {line.strip()}")
