"""The native HTTP API: what producers send to ``POST /v1/events`` and ``POST /v1/batch``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

MAX_TIMESTAMP_MS = 10_413_792_000_000  # 2300-01-01: past ClickHouse DateTime64's range
PropertyValue = StrictStr | StrictInt | StrictFloat | StrictBool | None
"""Event properties are flat: string, number, boolean or null values."""

ShortText = Annotated[StrictStr, Field(max_length=200)]
LongText = Annotated[StrictStr, Field(max_length=2048)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PageContext(_Model):
    """The page the event happened on."""

    url: LongText | None = None
    referrer: LongText | None = None
    title: LongText | None = None
    path: LongText | None = None


class ScreenContext(_Model):
    width: StrictInt = Field(ge=0, le=100_000)
    height: StrictInt = Field(ge=0, le=100_000)


class EventContext(_Model):
    """Where the event came from. ``ip`` is for server-side senders forwarding an end user's IP;
    it is used for geo lookup and then dropped."""

    page: PageContext | None = None
    user_agent: LongText | None = None
    locale: ShortText | None = None
    screen: ScreenContext | ShortText | None = None
    ip: ShortText | None = None


class NativeEvent(_Model):
    """One event in the native API.

    ``type`` is ``track`` (needs ``event``), ``page`` (``event`` defaults to ``pageview``) or
    ``identify`` (needs ``user_id``; with ``visitor_id`` it links the visitor to the user).
    Every event needs ``visitor_id`` or ``user_id``. ``timestamp`` is ISO 8601 or epoch
    milliseconds; absent means the time the edge received it.
    """

    type: Literal["track", "page", "identify"] = "track"
    event: ShortText | None = Field(default=None, min_length=1)
    channel: ShortText | None = None
    visitor_id: ShortText | None = Field(default=None, min_length=1)
    user_id: ShortText | None = Field(default=None, min_length=1)
    timestamp: datetime | StrictInt | None = None
    message_id: ShortText | None = Field(default=None, min_length=1)
    properties: dict[StrictStr, PropertyValue] = Field(default_factory=dict)
    traits: dict[StrictStr, Any] = Field(default_factory=dict)
    context: EventContext | None = None
    icon: ShortText | None = None
    notify: StrictBool = False
    description: LongText | None = None

    @field_validator("timestamp")
    @classmethod
    def _timestamp_in_range(cls, value: datetime | int | None) -> datetime | int | None:
        millis = value if isinstance(value, int) else None
        if isinstance(value, datetime):
            aware = value if value.tzinfo else value.replace(tzinfo=UTC)
            millis = int(aware.timestamp() * 1000)
        if millis is not None and not 0 <= millis < MAX_TIMESTAMP_MS:
            raise ValueError("must be between 1970 and 2299 (epoch milliseconds or ISO 8601)")
        return value

    @model_validator(mode="after")
    def _required_by_type(self) -> NativeEvent:
        if self.type == "track" and not self.event:
            raise _missing("event", "a track event needs an event name")
        if self.type == "identify" and not self.user_id:
            raise _missing("user_id", "an identify needs the user_id")
        if not self.visitor_id and not self.user_id:
            raise _missing("visitor_id", "an event needs a visitor_id or a user_id")
        return self


def _missing(field: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(
        "missing", "{field}: {message}", {"field": field, "message": message}
    )


class EventBatch(BaseModel):
    """``POST /v1/batch`` body. Items are validated one by one (see ``BatchError``)."""

    events: list[Any] = Field(min_length=1)


class EventAccepted(BaseModel):
    """``202`` answer for one event."""

    id: str
    event: str
    timestamp: str


class BatchError(BaseModel):
    index: int
    error: str
    message: str
    field: str | None = None


class BatchAccepted(BaseModel):
    """``202`` answer for a batch: valid events are kept even when others are refused."""

    accepted: int
    total: int
    errors: list[BatchError] = Field(default_factory=list)


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer of the native API."""

    error: str
    message: str
    field: str | None = None
