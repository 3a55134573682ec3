"""`/konto/pruefpunkte`: an auditor asks for each new signed checkpoint of the audit log by e-mail, or stops.

The auditor's own preference, like the password: not a change of any case (auditors change nothing there).
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, url_for

from ews_cases.db.request_session import db_session
from ews_cases.i18n.translate import _
from ews_cases.services.checkpoints import latest_checkpoint, set_checkpoint_mail
from ews_cases.settings import current_settings
from ews_cases.web.access import me, my_actor, roles_required
from ews_cases.web.account_forms import CheckpointMailForm
from ews_cases.web.views import web


@web.route("/konto/pruefpunkte", methods=["GET", "POST"])
@roles_required("auditor")
def checkpoint_mail() -> Any:
    """Whether each new checkpoint is mailed to me, and the button that switches it."""
    form = CheckpointMailForm()
    user = me()
    if form.validate_on_submit():
        store = db_session()
        subscribed = form.subscribed.data == "on"
        set_checkpoint_mail(store, my_actor(), user, subscribed)
        store.commit()
        if subscribed:
            flash(_("Sie erhalten ab jetzt jeden neuen Prüfpunkt per E-Mail."), "success")
        else:
            flash(_("Sie erhalten keine Prüfpunkte mehr per E-Mail."), "success")
        return redirect(url_for("web.checkpoint_mail"), 303)
    latest = latest_checkpoint(db_session())
    return render_template(
        "web/checkpoint_mail.html",
        form=form,
        since=user.checkpoint_mail_since,
        email=user.email,
        origin=current_settings().log_origin,
        latest=latest,
    ), (422 if form.errors else 200)
