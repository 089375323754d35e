"""The HTTP contract's shapes: request bodies (validated) and answers (documented).

Request models refuse what they do not know (extra="forbid") and never coerce
(strict types: `true` is not a number of minutes). Answer models describe what the
views return; the OpenAPI document and the fuzz's response checks are made from them.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictStr,
    field_validator,
    model_validator,
)

from ..discovery import DiscoveryFacts
from ..health import Facts
from ..inventory import normalize_mac

# The MAC forms normalize_mac reads, for the document (the validator is normalize_mac).
MAC_PATTERN = (r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$|^[0-9A-Fa-f]{2}(-[0-9A-Fa-f]{2}){5}$"
               r"|^[0-9A-Fa-f]{12}$")
REINSTALL_MAX_MINUTES = 7 * 24 * 60
EVENTS_MAX_LIMIT = 10_000
SQLITE_MAX_INT = 2**63 - 1  # ids beyond it cannot exist (and would not bind)


def _integral(value: Any) -> Any:
    """JSON Schema's integer: 30 and 30.0, never true or "30"."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be an integer")
    return value


Integer = Annotated[int, BeforeValidator(_integral)]
Minutes = Annotated[int, Field(ge=1, le=REINSTALL_MAX_MINUTES), BeforeValidator(_integral)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Answer(BaseModel):
    # Answers may grow fields; clients (and the fuzz's schema check) must accept that.
    model_config = ConfigDict(extra="allow")


# -- requests -------------------------------------------------------------------


class ReinstallBody(_Body):
    minutes: Minutes | None = Field(None, description="arming window; the site's"
                                                      " reinstall_window_minutes when absent")


class AcceptBody(_Body):
    """A discovered machine's node entry; the inventory loader checks it with the whole file."""

    hostname: StrictStr
    ip: StrictStr
    roles: Annotated[list[StrictStr], Field(min_length=1)]
    gpus: Integer | None = None
    disk: dict[str, Any] | None = None
    install: StrictStr | None = None
    profile: StrictStr | None = None
    power: dict[str, Any] | None = Field(None, description="the node's `power:` section, checked "
                                         "with the inventory (a credential by its name only)")
    power_on: bool = Field(False, description="once accepted, boot it from the network once and "
                                              "power it on (the hands-off reinstall's power job)")

    @model_validator(mode="after")
    def _power_on_needs_a_driver(self) -> AcceptBody:
        if self.power_on and not self.power:
            raise ValueError("power_on needs a power: driver for the node")
        return self

    def node_entry(self, mac: str) -> dict[str, Any]:
        """The inventory entry this body makes for the machine booted with `mac`."""
        return {"hostname": self.hostname, "macs": [mac], "ip": self.ip, "roles": self.roles,
                **self.model_dump(include={"gpus", "disk", "install", "profile", "power"},
                                  exclude_none=True)}


class CurtinEvent(BaseModel):
    """A curtin webhook event (curtin/reporter/events.py); unknown keys are dropped."""

    model_config = ConfigDict(extra="ignore", strict=True)
    name: Annotated[StrictStr, Field(min_length=1)]
    event_type: Annotated[StrictStr, Field(min_length=1)]
    description: StrictStr | None = None
    origin: StrictStr | None = None
    timestamp: StrictFloat | Integer | None = None
    level: StrictStr | None = None
    result: StrictStr | None = None


class FailedBody(_Body):
    log: StrictStr = ""


class FactsReport(Facts):
    """The first-boot facts (seedbed.health.Facts), documented under the callback's name."""


class DiscoveryReport(DiscoveryFacts):
    """A discovery boot's hardware facts (seedbed.discovery.facts), under the report's name."""


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown parameter is a mistake worth a 400


class NetbootQuery(_Query):
    """What boot.ipxe passes; the optional facts are kept for discovered machines (64 chars)."""

    mac: Annotated[str, Field(json_schema_extra={"pattern": MAC_PATTERN},
                              description="the booting NIC (iPXE ${mac:hexhyp})")]
    buildarch: str | None = None
    platform: str | None = None
    uuid: str | None = None

    @field_validator("mac")
    @classmethod
    def _mac(cls, value: str) -> str:
        return normalize_mac(value)


class EventsQuery(_Query):
    limit: Annotated[int, Field(ge=0, le=EVENTS_MAX_LIMIT)] = 200
    after: Annotated[int, Field(ge=0, le=SQLITE_MAX_INT)] = 0


# -- answers --------------------------------------------------------------------


class ErrorAnswer(_Answer):
    """Every error of the service: a message, sometimes with details or problems."""

    error: str


class HealthAnswer(_Answer):
    status: str
    nodes: int


class NodeSummary(_Answer):
    hostname: str
    macs: list[str]
    ip: str
    roles: list[str]
    gpus: int
    state: str
    armed: bool
    armed_until: float | None
    since: float | None
    last_event: str | None
    last_event_at: float | None
    install: int | None
    health: list[str]


class NodeDetail(NodeSummary):
    facts: dict[str, Any] | None


class NodeList(_Answer):
    nodes: list[NodeSummary]


class EventAnswer(_Answer):
    id: int
    at: float
    hostname: str | None
    mac: str | None
    install: int | None
    kind: str
    message: str
    data: Any


class EventList(_Answer):
    events: list[EventAnswer]
    dropped: int = Field(description="older events rolled off to keep the store bounded")


class ReinstallAnswer(_Answer):
    hostname: str
    state: str
    armed_until: float | None


class DiscoveredMachine(_Answer):
    mac: str
    first_seen: float
    last_seen: float
    boots: int
    buildarch: str | None
    platform: str | None
    uuid: str | None
    accepted_as: str | None
    facts: DiscoveryReport | None = Field(None, description="the discovery boot's hardware report")
    facts_at: float | None = None


class DiscoveredList(_Answer):
    discovered: list[DiscoveredMachine]
    dropped: int = Field(description="older discovered machines rolled off (at most seedbed.limits)")


class AcceptAnswer(_Answer):
    hostname: str
    mac: str
    state: str
    power_job: int | None = Field(None, description="power_on: the queued power job")
    power_problem: str | None = Field(None, description="power_on: why no power job was queued")


class ClusterStatus(_Answer):
    ready: bool
    waiting_for: list[Any]
    members: list[Any]
    jobs: list[dict[str, Any]]


class ClusterJob(_Answer):
    id: int
    log: str


class QueuedJob(_Answer):
    job: int
    status: str


class RancherPassword(_Answer):
    bootstrap_password: str


class Recorded(_Answer):
    status: str


class InstallOutcome(_Answer):
    status: str
    install: int


class ReadyAnswer(_Answer):
    status: str
    problems: list[str]


class OpenApiDocument(_Answer):
    openapi: str
    paths: dict[str, Any]
