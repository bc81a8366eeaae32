"""Member portal: the partner apps a member connected to their account, and disconnecting one.

The partners domain owns the rules (portal.domain.partners): disconnecting
revokes the app's consents, tokens and unused codes for this member at once.
The list itself is shown on /profile (account_views.profile).
"""
from __future__ import annotations

from flask import abort, flash, redirect, url_for
from flask_babel import gettext as _

from ..domain import partners, self_service
from ..domain.errors import NotFound
from ..extensions import db
from . import bp, current_member, member_required
from .account_forms import ConfirmForm


def connected_apps_context(member) -> dict:
    """What the profile page needs to show the member's connected apps."""
    return {"connections": partners.connections(db.session, member),
            "disconnect_form": ConfirmForm(formdata=None, prefix="app")}


@bp.post("/profile/apps/<int:app_id>/disconnect")
@member_required
def app_disconnect(app_id: int):
    member = current_member()
    form = ConfirmForm(prefix="app")
    if not form.validate_on_submit():
        abort(400)
    try:
        with db.transaction() as session:
            app = partners.disconnect_app(session, member, app_id, actor=self_service.member_actor(member))
    except NotFound:
        abort(404)
    flash(_("%(app)s can no longer use your account.", app=app.name), "success")
    return redirect(url_for("member.profile") + "#apps-heading")
