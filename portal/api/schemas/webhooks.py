"""Request and response shapes of the webhook routes (the seed's event triggers of type WebHook)."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from ...domain import webhooks
from .common import IdOrderQuery, In, Name, OrderBy, Out, PageOut, StrictListQuery, patch_of

EventType = Literal[webhooks.EVENT_TYPES]  # type: ignore[valid-type]
EventTypes = Annotated[list[EventType], Field(min_length=1, max_length=len(webhooks.EVENT_TYPES))]
Url = Annotated[str, StringConstraints(min_length=1, max_length=webhooks.MAX_URL)]
DeliveryStatus = Literal[webhooks.PENDING, webhooks.RUNNING, webhooks.SUCCESS, webhooks.FAILED]


class WebhookIn(In):
    name: Name
    url: Url = Field(description="http or https; loopback and private addresses are refused")
    event_types: EventTypes
    active: bool = True
    type: Literal["WebHook"] = Field("WebHook", description="The seed's trigger type; the only one")


class WebhookUpdate(patch_of(WebhookIn, fixed=("type",))):
    """Only the fields sent change; null leaves a field as it is."""

    rotate_secret: bool = Field(False, description="Replace the signing secret; the answer shows the new one once")


class WebhookOut(Out):
    id: int
    type: Literal["WebHook"] = "WebHook"
    name: str
    url: str
    event_types: list[str]
    active: bool
    secret_hint: str = Field(description="The secret's last characters, to tell secrets apart")
    secret: str | None = Field(None, description="Only in the answer that created the webhook or rotated its secret")
    created_at: dt.datetime
    updated_at: dt.datetime


class WebhookEnvelope(Out):
    webhook: WebhookOut


class WebhookPage(PageOut):
    results: list[WebhookOut]


class WebhookListQuery(StrictListQuery):
    order: OrderBy("createdAt", "id", "name") | None = None
    active: bool | None = None


class AttemptOut(Out):
    number: int
    started_at: dt.datetime
    finished_at: dt.datetime | None
    outcome: Literal["success", "failed", "abandoned"] | None = Field(description="null while the call is running")
    status_code: int | None
    latency_ms: int | None
    response_excerpt: str
    error: str


class DeliveryOut(Out):
    id: int
    event_id: str = Field(description="The same on every retry: receivers deduplicate on it")
    event_type: str
    member_id: int | None
    status: DeliveryStatus
    attempt_count: int
    next_attempt_at: dt.datetime | None = Field(description="null once the delivery succeeded or failed")
    last_status_code: int | None
    created_at: dt.datetime
    finished_at: dt.datetime | None
    payload: dict[str, Any] = Field(description="The JSON body sent")
    attempts: list[AttemptOut]


class DeliveryEnvelope(Out):
    delivery: DeliveryOut


class DeliveryPage(PageOut):
    results: list[DeliveryOut]


class DeliveryListQuery(IdOrderQuery):
    status: DeliveryStatus | None = None
    event_type: Literal[(*webhooks.EVENT_TYPES, webhooks.TEST_EVENT)] | None = None  # type: ignore[valid-type]
