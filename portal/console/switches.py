"""Switching something on or off from the console (missions, referral programmes, event types):
one POST carrying the wanted state, the domain's update in one transaction, back to the page."""
from __future__ import annotations

from flask import abort, flash, redirect
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import AnyOf, InputRequired

from ..extensions import db


class ActiveForm(FlaskForm):
    """The CSRF token and the wanted state, "on" or "off"."""

    active = HiddenField(validators=[InputRequired(), AnyOf(["on", "off"])])

    @property
    def wanted(self) -> bool:
        return self.active.data == "on"


def switch_active(thing, update, back_to: str, told=None):
    """`update(session, thing, actor=..., active=...)` with the posted state, then redirect to `back_to`.
    `thing` has a name and an `active` flag; a malformed POST is a 400. `told(thing)` words the flash
    message when "<name> is now active/inactive." says too little."""
    form = ActiveForm()
    if not form.validate_on_submit():
        abort(400)
    with db.transaction() as session:
        update(session, thing, actor=current_user.actor(), active=form.wanted)
    flash(told(thing) if told else f"{thing.name} is now {'active' if thing.active else 'inactive'}.", "success")
    return redirect(back_to)
