"""What the usual pages of a console resource (a mission, a webhook, ...) share, written once: finding
one by the id in its URL, its page (where a create or a save goes back to), the flow of its new and
edit pages, and its on/off switch; and, for things that have no page of their own (tiers, event
types, staff users), the list page whose create card makes one (`list_with_create`).

A resource's module declares one `Resource` and keeps its routes as plain Flask views, each with its
URL in `@bp.route`, its permission in `@staff_required` and the endpoint's name as the function's:

    MISSIONS = Resource("missions", "mission", missions.get_mission, fields=MISSION_FIELDS)

    @bp.route("/missions/<int:mission_id>/edit", methods=["GET", "POST"])
    @staff_required("campaigns:write")
    def mission_edit(mission_id: int):
        mission, form = MISSIONS.find(mission_id), MissionForm()
        return MISSIONS.edit_page(form, mission, missions.update_mission)
"""
from __future__ import annotations

from typing import Any, Callable, Union

from flask import render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from ..auth import staff_required
from ..domain.errors import DomainError
from ..extensions import db
from ..forms import Fields, save_edit, submit_then
from . import bp
from .rendering import refusal_pointer
from .switches import switch_active


class Resource:
    """One kind of thing the console manages.

    `things` names its templates' folder (`templates/console/<things>/`), `thing` its endpoints
    (`console.<thing>_detail`), and, unless `id_arg` and `known_as` say otherwise, the id in its URLs
    (`<thing>_id`) and the name its templates know it by; `get(session, organization_id, thing_id)`
    finds one in an organisation, raising NotFound (the 404 page) for an id of nothing or of another
    organisation's thing; `fields` maps the domain's field names to its form's (see `forms.Fields`).
    `label` (the list's title, "Missions") and `write_role` (the role that may change one) are what its
    pages' layouts show: the breadcrumb back to the list, and the actions for those who may write (see
    `layout`)."""

    def __init__(self, things: str, thing: str, get: Callable[..., Any], *, fields: Fields | None = None,
                 id_arg: str | None = None, known_as: str | None = None, label: str | None = None,
                 write_role: str | None = None):
        self.things, self.thing, self.get, self.fields = things, thing, get, fields
        self.id_arg = id_arg or f"{thing}_id"
        self.known_as = known_as or thing
        self.label, self.write_role = label, write_role

    def find(self, thing_id: int) -> Any:
        """The signed-in staff user's organisation's thing with this id (else the 404 page)."""
        return self.get(db.session, current_user.organization_id, thing_id)

    def url(self, thing: Any, action: str = "detail") -> str:
        """The thing's page in the console, or the URL of its `action` (`edit`, `active`, ...)."""
        return url_for(f"console.{self.thing}_{action}", **{self.id_arg: thing.id})

    def layout(self, thing: Any = None) -> dict:
        """What the console's page layouts (`_detail_page.html`, `_form_page.html`) take from the resource
        beside the page's own context: `list_crumb` (the list's label and URL), `can_write` (whether the
        signed-in staff user holds `write_role`), and the `thing` shown and its `resource` (for the URLs of
        its actions)."""
        return {"list_crumb": (self.label, url_for(f"console.{self.thing}_list")),
                "can_write": current_user.has_role(self.write_role), "thing": thing, "resource": self}

    def new_page(self, form: FlaskForm, create: Callable[..., Any], *,
                 told: Callable[[Any], Union[str, tuple[str, str]]], values: Callable[[], dict] | None = None,
                 **drawn):
        """The new page (`<things>/new.html`). A valid POST calls the domain's
        `create(session, organization_id, actor=..., **values())` (`values`: the form's `fields()`
        unless given) through `forms.submit_then`, then goes to the created thing's page flashing
        `told(thing)`; else the page is drawn (again, with the errors), as `page` says with `drawn`."""
        return submit_then(form, lambda: create(db.session, current_user.organization_id, actor=current_user.actor(),
                                                **(values() if values else form.fields())),
                           self.fields, told=told, then=self.url, page=self.page("new", form, **drawn))

    def edit_page(self, form: FlaskForm, thing: Any, update: Callable[..., Any], *,
                  values: Callable[[], dict] | None = None, saved: Callable[[], str] | None = None,
                  then: str | None = None, fields: Fields | None = None, **drawn):
        """The edit page (`<things>/edit.html`, which sees the thing as `<known_as>`) through
        `forms.save_edit`: a GET fills the form; a valid POST calls the domain's
        `update(session, thing, actor=..., **values())` (`values`: the form's `fields()` unless
        given), then flashes `saved()` ("<its new name> saved." unless given) and goes to `then`
        (the thing's page unless given); else the page is drawn (again, with the errors), as
        `page` says with `drawn`. `fields` places the errors where this form, not the resource,
        knows where they go (a coupon book's texts per locale)."""
        return save_edit(form, thing, lambda: update(db.session, thing, actor=current_user.actor(),
                                                     **(values() if values else form.fields())), fields or self.fields,
                         saved=saved or (lambda: f"{thing.name} saved."), then=then or self.url(thing),
                         page=self.page("edit", form, **{self.known_as: thing}, **drawn))

    def switch(self, thing_id: int, update: Callable[..., Any], told: Callable[[Any], str] | None = None):
        """The POST switching a thing on or off (see `switches.switch_active`), back to its page."""
        thing = self.find(thing_id)
        return switch_active(thing, update, self.url(thing), told=told)

    def page(self, action: str, form: FlaskForm, *, choices: Callable[[FlaskForm], FlaskForm] | None = None,
             rule_field=None, **context) -> Callable[[Union[DomainError, None]], str]:
        """Drawing `<things>/<action>.html` with `form` and `context`, after the refusal given (a
        DomainError, or None). `choices(form)` gives the drawn form its choices (only when drawn: a
        saved form needs none). Given `rule_field` (an audience's rule, a mission's matcher), the page
        also sees `pointer`: where that text stopped parsing, if that was the refusal. A resource with
        a `label` also gives the page its `layout` (the thing: the one edited, None on a new page)."""
        def draw(refusal: Union[DomainError, None]) -> str:
            if rule_field is not None:
                context["pointer"] = refusal_pointer(rule_field, refusal)
            layout = self.layout(context.get(self.known_as)) if self.label else {}
            return render_template(f"console/{self.things}/{action}.html", form=choices(form) if choices else form,
                                   **layout, **context)
        return draw


def list_with_create(url: str, thing: str, form_class, draw: Callable[..., Any], *, read: str, write: str,
                     told: Callable[[Any], str], fields: Fields | None = None):
    """Makes a view the POST of a list page's create card and registers the list page beside it, both at
    `url`: `console.<thing>_list` (a GET, for staff with the role `read`) is `draw(form)` with an empty
    `form_class` form; the decorated view (a POST, role `write`, its name the endpoint's) gets the posted
    form, makes the domain call and returns what it created: through `forms.submit_then`, back to the list
    flashing `told(created)`; else the list is drawn again, `draw(form, status=422)`, with the errors.

        @list_with_create("/tiers", "tier", TierForm, _list_page, read="tiers:read", write="tiers:write",
                          told=lambda tier: f"Tier {tier.name} created.")
        def tier_create(form: TierForm):
            return tiers.create_tier(db.session, ..., **form.fields())
    """
    def decorator(create: Callable[[FlaskForm], Any]):
        @bp.get(url, endpoint=f"{thing}_list")
        @staff_required(read)
        def list_page():
            return draw(form_class(formdata=None))

        @bp.post(url, endpoint=create.__name__)
        @staff_required(write)
        def posted():
            form = form_class()
            return (submit_then(form, lambda: create(form), fields, told=told, then=url_for(f"console.{thing}_list"))
                    or draw(form, status=422))
        return posted
    return decorator
