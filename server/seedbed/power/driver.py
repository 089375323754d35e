"""The one small interface every power driver implements, and what each can do.

A driver acts on one node's BMC (or its NIC, for Wake-on-LAN). Its capabilities say
which actions it has, so the CLI and the API offer only those. Failures raise
PowerError with a message fit for an event: never a credential (see secrets.py).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import ClassVar, Literal

PowerState = Literal["on", "off", "unknown"]
ACTIONS = ("on", "off", "cycle", "reinstall")  # what a job does; `status` is a query


@dataclass(frozen=True)
class Capabilities:
    on: bool
    off: bool
    cycle: bool
    status: bool
    pxe_once: bool  # the next boot only from the network, then back to the usual order

    def as_dict(self) -> dict[str, bool]:
        return asdict(self)

    def allows(self, action: str) -> bool:
        if action == "reinstall":
            return self.cycle or self.on  # wol can only wake a machine that is off
        return bool(getattr(self, action, False))


class PowerError(Exception):
    """The BMC refused or did not answer; `retry` says whether trying again may help."""

    def __init__(self, message: str, retry: bool = True):
        super().__init__(message)
        self.retry = retry


class PowerDriver(ABC):
    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]

    def on(self) -> str:
        raise PowerError(f"{self.name} cannot power on", retry=False)

    def off(self) -> str:
        raise PowerError(f"{self.name} cannot power off", retry=False)

    def cycle(self) -> str:
        raise PowerError(f"{self.name} cannot power cycle", retry=False)

    def status(self) -> PowerState:
        return "unknown"

    def pxe_once(self) -> str:
        raise PowerError(f"{self.name} cannot set a one-time network boot", retry=False)

    @abstractmethod
    def describe(self) -> str:
        """Where this driver acts, for events and listings (never a credential)."""

    def reinstall(self) -> str:
        """Next boot from the network once (where the driver can), then power cycle or on."""
        steps = [self.pxe_once()] if self.capabilities.pxe_once else []
        steps.append(self.cycle() if self.capabilities.cycle else self.on())
        return "; ".join(steps)

    def run(self, action: str) -> str:
        if action not in ACTIONS:
            raise PowerError(f"unknown power action {action!r}", retry=False)
        return getattr(self, action)()
