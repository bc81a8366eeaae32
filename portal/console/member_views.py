"""Members: the searchable list, one member's page, and the staff actions on it
(points adjustment, lock/unlock, manual tier, profile and custom attributes,
identifiers, a coupon, a mission step by hand, erasure). Each action is one of the
page's forms: its view, made so by `member_form`, is the form's domain call and says
what to flash; the domain audits it.

The member page's missions progress and latest events (members/_engagement.html)
come from `member_engagement(member)` in the template context, so the queries
run only when the page is drawn in full, not for its htmx history rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import wraps
from typing import Any, Callable

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user

from ..auth import staff_required
from ..domain import coupons, custom_events, ledger, members, missions, orders, points, self_service, tiers
from ..domain.coupons.models import PUBLISHED
from ..domain.base import utcnow
from ..domain.errors import ValidationFailed
from ..domain.members import LOCKED, Member
from ..domain.orders import PurchaseOrder
from ..domain.organizations import default_program
from ..domain.outbox import OutboxEvent
from ..domain.pagination import Page, paginate
from ..extensions import db
from ..forms import Fields, form_status, submit, submit_then
from ..fragments import render_page_or_fragment, wants_fragment
from . import bp, queries
from .member_forms import (ERROR_FIELDS, AccountStatusForm, AddIdentifierForm, AdjustPointsForm, AssignCouponForm,
                           EraseForm, IncrementMissionForm, ProfileForm, RemoveIdentifierForm, SearchForm,
                           SetTierForm)
from .mission_forms import KIND_LABELS
from .rendering import newest_first, page_arg, page_of

MEMBERS_PER_PAGE = 20
HISTORY_PER_PAGE = 15
FEED_LENGTH = 20
ORDERS_ON_PAGE = 10


@bp.get("/members")
@staff_required("members:read")
def member_list():
    session = db.session
    organization_id = current_user.organization_id
    form = SearchForm(formdata=request.args)
    term = (form.q.data or "").strip()
    error = None
    try:
        stmt = members.search_query(organization_id, term) if term else members.list_query(organization_id)
        result = page_of(stmt, MEMBERS_PER_PAGE, *newest_first(Member))
    except ValidationFailed as failure:
        error, result = failure.message, Page(total=0, page=0, limit=MEMBERS_PER_PAGE, items=[])
    ids = [m.id for m in result.items]
    program = default_program(session, organization_id)
    return render_page_or_fragment(
        "console/members/list.html", "console/members/_rows.html",
        form=form, term=term, result=result, search_error=error,
        card_codes=queries.card_codes(session, ids),
        balances=queries.wallet_balances(session, program.points_account_id, ids))


@bp.get("/members/<int:member_id>")
@staff_required("members:read")
def member_detail(member_id: int):
    return _member_page(_member(member_id))


def member_form(prefix: str, form_class, fields: Fields | None = None):
    """Makes a view the POST of one of the member page's forms, `form_class(prefix=prefix)`. The view
    gets the member (a 404 when not the organisation's) and the posted form, makes the form's domain
    call and returns what to flash (a message, or a message and its category): through
    `forms.submit_then`, back to the member page; else the page is drawn again with the form, and its
    errors, in its place (`<prefix>_form`). A form's choices (tiers, books, missions) are given where
    the page is drawn (`_member_page`): their select fields check no choice, the domain does."""
    def decorator(view: Callable[[Member, Any], str | tuple[str, str]]):
        @wraps(view)
        def posted(member_id: int):
            member = _member(member_id)
            form = form_class(prefix=prefix)
            return (submit_then(form, lambda: view(member, form), fields, told=lambda message: message,
                                then=url_for("console.member_detail", member_id=member.id))
                    or _member_page(member, **{f"{prefix}_form": form}))
        return posted
    return decorator


@bp.post("/members/<int:member_id>/points")
@staff_required("ledgers:write")
@member_form("adjust", AdjustPointsForm)
def member_adjust_points(member: Member, form: AdjustPointsForm):
    movement = points.adjust_member_points(
        db.session, member, form.amount.data, actor=current_user.actor(), reason_text=form.reason.data,
        system_unique_key=f"console-adjust-{form.key.data}" if form.key.data else None)
    if movement.replayed:
        return "This adjustment was already recorded; nothing was changed.", "info"
    return f"{form.amount.data:+,} points recorded: {form.reason.data.strip()}"


@bp.post("/members/<int:member_id>/status")
@staff_required("members:write")
@member_form("status", AccountStatusForm, {"accountStatus": "reason"})
def member_set_status(member: Member, form: AccountStatusForm):
    members.update_member(db.session, member, actor=current_user.actor(), account_status=form.account_status.data,
                          reason=(form.reason.data or "").strip())
    return "Account locked." if member.account_status == LOCKED else "Account unlocked."


@bp.post("/members/<int:member_id>/tier")
@staff_required("tiers:write")
@member_form("tier", SetTierForm, {"loyaltyTierId": "tier", "expiresAt": "expires_on"})
def member_set_tier(member: Member, form: SetTierForm):
    session = db.session
    program = default_program(session, member.organization_id)
    expires_at = (tiers.end_of_day(session, member.organization_id, form.expires_on.data)
                  if form.expires_on.data else None)
    tier = (tiers.get_tier(session, member.organization_id, int(form.tier.data), program.id)
            if form.tier.data else None)
    tiers.set_tier(session, member.id, program, tier, actor=current_user.actor(), expires_at=expires_at,
                   reason=(form.reason.data or "").strip() or "set by staff")
    return f"Tier set to {tier.name}." if tier else "Tier removed."


@bp.post("/members/<int:member_id>/profile")
@staff_required("members:write")
@member_form("profile", ProfileForm, {**ERROR_FIELDS, "customAttributes": "custom_attributes"})
def member_edit_profile(member: Member, form: ProfileForm):
    members.update_member(db.session, member, actor=current_user.actor(), profile=form.profile(),
                          custom_attributes=form.attributes(member.custom_attributes),
                          reason=(form.reason.data or "").strip())
    return "Profile saved."


@bp.post("/members/<int:member_id>/identifiers")
@staff_required("members:write")
@member_form("identifier", AddIdentifierForm)
def member_add_identifier(member: Member, form: AddIdentifierForm):
    identifier = members.add_identifier(db.session, member, form.type.data, form.code.data,
                                        actor=current_user.actor())
    return f"{identifier.type} {identifier.code} added."


@bp.post("/members/<int:member_id>/identifiers/remove")
@staff_required("members:write")
def member_remove_identifier(member_id: int):
    member = _member(member_id)
    form = RemoveIdentifierForm()
    if form.validate_on_submit() and form.identifier.data.isdigit():
        done, identifier = submit(form, lambda: members.remove_identifier(
            db.session, member, int(form.identifier.data), actor=current_user.actor()))
        if done:
            flash(f"{identifier.type} {identifier.code} removed.", "success")
            return _back_to(member)
    abort(404)  # only a stale or forged form names an identifier that is not the member's


@bp.post("/members/<int:member_id>/coupons")
@staff_required("coupons:write")
@member_form("coupon", AssignCouponForm, {"couponBookId": "book", "memberId": "book"})
def member_assign_coupon(member: Member, form: AssignCouponForm):
    book = coupons.get_book(db.session, member.organization_id, int(form.book.data))
    coupons.assign_coupons(db.session, member, book, actor=current_user.actor(),
                           system_unique_keys=[f"console-assign-{form.key.data}"])
    return f"Coupon from {book.name} assigned."


@bp.post("/members/<int:member_id>/missions")
@staff_required("members:write")
@member_form("mission", IncrementMissionForm, {"missionId": "mission", "amount": "amount"})
def member_increment_mission(member: Member, form: IncrementMissionForm):
    mission = missions.get_mission(db.session, member.organization_id, int(form.mission.data))
    increment = missions.record_increment(db.session, member, mission, form.amount.data, actor=current_user.actor(),
                                          system_unique_key=f"console-mission-{form.key.data}",
                                          reason=form.reason.data.strip())
    completed = any(e.type == "mission_completed" for e in increment.effects)
    return (f"{mission.name}: {form.amount.data} step{'s' if form.amount.data != 1 else ''} added"
            f"{' (completed)' if completed else ''}.")


@bp.post("/members/<int:member_id>/erase")
@staff_required("members:write")
@member_form("erase", EraseForm)
def member_erase(member: Member, form: EraseForm):
    self_service.erase_member(db.session, member, actor=current_user.actor())
    return "Personal data erased."


# --- the member page ----------------------------------------------------------------

def _member(member_id: int) -> Member:
    return members.get_member(db.session, current_user.organization_id, member_id)


def _back_to(member: Member):
    return redirect(url_for("console.member_detail", member_id=member.id))


def _assignable_books(member: Member):
    return db.session.scalars(coupons.books_query(member.organization_id, status=PUBLISHED).order_by(
        coupons.CouponBook.name)).all()


def _running_missions(member: Member):
    return [m for m in db.session.scalars(missions.list_query(member.organization_id, active=True)
                                          .order_by(missions.Mission.name)) if m.is_running_at(utcnow())]


def _member_page(member: Member, *, adjust_form=None, status_form=None, tier_form=None, profile_form=None,
                 identifier_form=None, coupon_form=None, mission_form=None, erase_form=None):
    """The whole page (422 when drawn again for a refused form), or only the history rows for htmx paging."""
    status = form_status()
    session = db.session
    program = default_program(session, member.organization_id)
    balances = points.balances(session, member)
    main = next((b for b in balances if b["ledgerAccountId"] == program.points_account_id), None)
    context = {"member": member, "history": _history(main["walletId"] if main else None)}
    if not wants_fragment():
        ladder = tiers.tiers_of(session, program.id)
        tier_history = tiers.history(session, member.id, program.id)
        context.update(
            program=program,
            profile=members.profile_of(member),
            identifiers=members.identifiers_of(session, member.id),
            balances=balances,
            main_balance=main,
            progress=tiers.progress(session, member.id, program),
            tier_history=tier_history,
            tier_by_id={t.id: t for t in ladder},
            staff_labels=queries.staff_labels(session, member.organization_id,
                                              [h.actor_id for h in tier_history if h.actor_kind == "staff"]),
            adjust_form=adjust_form or AdjustPointsForm(prefix="adjust", formdata=None),
            status_form=(status_form or AccountStatusForm(prefix="status", formdata=None)).for_member(member),
            tier_form=(tier_form or SetTierForm(prefix="tier", formdata=None)).with_tiers(ladder),
            member_orders=_latest_orders(member),
            profile_form=profile_form or ProfileForm(prefix="profile", formdata=None).fill(
                member, members.profile_of(member)),
            identifier_form=identifier_form or AddIdentifierForm(prefix="identifier", formdata=None),
            remove_identifier_form=RemoveIdentifierForm(formdata=None),
            coupon_form=((coupon_form or AssignCouponForm(prefix="coupon", formdata=None)).with_books(
                _assignable_books(member)) if current_user.has_role("coupons:write") else None),
            mission_form=(mission_form or IncrementMissionForm(prefix="mission", formdata=None)).with_missions(
                _running_missions(member)),
            erase_form=erase_form or EraseForm(prefix="erase", formdata=None),
        )
    return render_page_or_fragment("console/members/detail.html", "console/members/_history.html",
                                   status=status, **context)


def _latest_orders(member: Member) -> Page | None:
    """The member's latest orders, for staff who may read orders (None for the others)."""
    if not current_user.has_role("orders:read"):
        return None
    stmt = orders.orders_of(member.id).order_by(PurchaseOrder.created_at.desc(), PurchaseOrder.id.desc())
    return paginate(db.session, stmt, page=0, limit=ORDERS_ON_PAGE)


def _history(wallet_id: int | None) -> dict:
    page = page_arg()
    rows = (ledger.wallet_history(db.session, wallet_id, limit=HISTORY_PER_PAGE + 1,
                                  offset=(page - 1) * HISTORY_PER_PAGE) if wallet_id else [])
    return {"rows": rows[:HISTORY_PER_PAGE], "page": page, "has_next": len(rows) > HISTORY_PER_PAGE}


# --- the member page's missions and events -----------------------------------------------

@dataclass
class FeedItem:
    event: OutboxEvent
    summary: str


@dataclass
class MemberEngagement:
    missions: list[tuple[missions.Progress, str | None]]  # progress, and why it cannot advance now (or None)
    feed: list[FeedItem]


def standing(progress: missions.Progress) -> str | None:
    """Why the member cannot advance on this mission now, in a word or two; None when they can."""
    return {"inactive": "Inactive", "max_repetitions": "All completions done",
            "period_limit": f"Done this {progress.mission.repetition_period}",
            "dates": "Outside its dates"}.get(progress.blocked_by)


def member_engagement(member: Member) -> MemberEngagement:
    """Every mission of the organisation with the member's progress (inactive ones too: their
    completions still count), and the member's latest events, newest first. Reads only."""
    session = db.session
    if member.organization_id != current_user.organization_id:
        abort(404)
    progress = missions.member_missions(session, member, active_only=False)
    latest = session.scalars(custom_events.feed_query(member.organization_id, member.id)
                             .order_by(OutboxEvent.id.desc()).limit(FEED_LENGTH))
    return MemberEngagement(missions=[(p, standing(p)) for p in progress],
                            feed=[FeedItem(e, custom_events.summarise(e)) for e in latest])


@bp.context_processor
def engagement_context():
    return {"member_engagement": member_engagement, "mission_kinds": KIND_LABELS}
