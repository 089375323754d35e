"""No automation: every action is a sentence telling a person exactly what to do."""

from __future__ import annotations

from .driver import Capabilities, PowerDriver, PowerError

STEPS = {
    "on": "press {node}'s power button",
    "off": "hold {node}'s power button until it turns off",
    "cycle": "turn {node} off and on again with its power button",
    "reinstall": "{node} is armed: power it on (or restart it), open its boot menu (often F12) "
                 "and choose network (PXE) boot",
}


class ManualDriver(PowerDriver):
    name = "manual"
    capabilities = Capabilities(on=False, off=False, cycle=False, status=False, pxe_once=False)

    def __init__(self, hostname: str, instructions: str | None = None):
        self.hostname, self.instructions = hostname, instructions

    def describe(self) -> str:
        return "manual (no power control)"

    def what_to_do(self, action: str) -> str:
        step = STEPS.get(action, "nothing to automate for {node}").format(node=self.hostname)
        return f"{step}; {self.instructions}" if self.instructions else step

    def run(self, action: str) -> str:
        raise PowerError(f"manual power: {self.what_to_do(action)}", retry=False)
