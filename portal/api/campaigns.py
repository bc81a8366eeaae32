"""Campaigns and their actions: rules that must hold, effects that follow."""
from __future__ import annotations

from functools import partial

from ..domain import campaigns
from . import core
from .core import Call, in_organization, ok, page_response
from .schemas import campaigns as s
from .schemas.common import ListQuery

ORG = "/organizations/<int:organizationId>"

# These routes were first published from api/earning.py: their endpoint names and operationIds
# (earning_<handler>) stay.
endpoint = partial(core.endpoint, name_prefix="earning")


def _campaign_out(call: Call, campaign: campaigns.Campaign) -> s.CampaignOut:
    return s.CampaignOut(
        id=campaign.id, loyalty_program_id=campaign.loyalty_program_id, code=campaign.code, name=campaign.name,
        description=campaign.description, event_type=campaign.event_type, active=campaign.active,
        valid_from=campaign.valid_from, valid_to=campaign.valid_to, timezone=campaign.timezone,
        days_of_week=campaign.days_of_week or [], location_codes=campaign.location_codes or [],
        tier_ids=campaign.tier_ids or [], audience_ids=campaign.audience_ids or [], min_spend=campaign.min_spend,
        monthly_points_cap=campaign.monthly_points_cap, tags=campaign.tags or [],
        actions=[_action_out(a) for a in campaigns.actions_of(call.session, campaign.id)],
        created_at=campaign.created_at)


def _action_out(action: campaigns.CampaignAction) -> s.ActionOut:
    return s.ActionOut(id=action.id, campaign_id=action.campaign_id, index=action.index, name=action.name,
                       rules=action.rules or [], effects=action.effects or [], abort_on_false=action.abort_on_false,
                       abort_on_error=action.abort_on_error, status=action.status)


@endpoint(f"{ORG}/campaigns", role="campaigns:read", query=ListQuery, response=s.CampaignPage, tag="Campaigns",
          summary="List campaigns")
def list_campaigns(call: Call):
    stmt = in_organization(call, campaigns.Campaign)
    return page_response(call, stmt, s.CampaignPage, lambda c: _campaign_out(call, c),
                         orders={"createdAt": campaigns.Campaign.created_at, "code": campaigns.Campaign.code})


@endpoint(f"{ORG}/campaigns", "POST", role="campaigns:write", body=s.CampaignIn, response=s.CampaignEnvelope,
          status=201, tag="Campaigns", summary="Create a campaign")
def create_campaign(call: Call):
    fields = call.body.model_dump(exclude={"code", "name"})
    campaign = campaigns.create_campaign(call.session, call.organization_id, code=call.body.code,
                                         name=call.body.name, actor=call.actor, **fields)
    return ok(s.CampaignEnvelope(campaign=_campaign_out(call, campaign)).dump(), 201)


@endpoint(f"{ORG}/campaigns/<int:campaignId>", role="campaigns:read", response=s.CampaignEnvelope, tag="Campaigns",
          summary="A campaign with its actions")
def get_campaign(call: Call, campaignId: int):
    campaign = campaigns.get_campaign(call.session, call.organization_id, campaignId)
    return ok(s.CampaignEnvelope(campaign=_campaign_out(call, campaign)).dump())


@endpoint(f"{ORG}/campaigns/<int:campaignId>", "PATCH", role="campaigns:write", body=s.CampaignUpdate,
          response=s.CampaignEnvelope, tag="Campaigns", summary="Change a campaign")
def update_campaign(call: Call, campaignId: int):
    campaign = campaigns.get_campaign(call.session, call.organization_id, campaignId)
    campaigns.update_campaign(call.session, campaign, actor=call.actor,
                              **call.body.model_dump(exclude_unset=True))
    return ok(s.CampaignEnvelope(campaign=_campaign_out(call, campaign)).dump())


@endpoint(f"{ORG}/campaigns/<int:campaignId>/actions", role="campaigns:read", response=s.ActionList,
          tag="Campaigns", summary="A campaign's actions in order")
def list_actions(call: Call, campaignId: int):
    campaign = campaigns.get_campaign(call.session, call.organization_id, campaignId)
    return ok(s.ActionList(results=[_action_out(a) for a in campaigns.actions_of(call.session, campaign.id)]).dump())


@endpoint(f"{ORG}/campaigns/<int:campaignId>/actions", "POST", role="campaigns:write", body=s.ActionIn,
          response=s.ActionEnvelope, status=201, tag="Campaigns",
          summary="Add an action: rules (all must hold) and effects")
def add_action(call: Call, campaignId: int):
    campaign = campaigns.get_campaign(call.session, call.organization_id, campaignId)
    b: s.ActionIn = call.body
    action = campaigns.add_action(call.session, campaign, actor=call.actor, rules_text=b.rules,
                                  effects=[e.model_dump(by_alias=True) for e in b.effects], index=b.index,
                                  name=b.name, abort_on_false=b.abort_on_false, abort_on_error=b.abort_on_error,
                                  status=b.status)
    return ok(s.ActionEnvelope(action=_action_out(action)).dump(), 201)


@endpoint(f"{ORG}/campaigns/<int:campaignId>/actions/<int:actionId>", "PATCH", role="campaigns:write",
          body=s.ActionUpdate, response=s.ActionEnvelope, tag="Campaigns", summary="Change an action")
def update_action(call: Call, campaignId: int, actionId: int):
    campaign = campaigns.get_campaign(call.session, call.organization_id, campaignId)
    action = campaigns.get_action(call.session, campaign, actionId)
    b: s.ActionUpdate = call.body
    fields = b.model_dump(exclude_unset=True, exclude={"rules", "effects"})
    if b.rules is not None:
        fields["rules_text"] = b.rules
    if b.effects is not None:
        fields["effects"] = [e.model_dump(by_alias=True) for e in b.effects]
    campaigns.update_action(call.session, action, actor=call.actor, **fields)
    return ok(s.ActionEnvelope(action=_action_out(action)).dump())
