"""An install's progress as a few named steps, read from the events the store keeps.

The installer's webhook stream (subiquity/curtin: 117-168 events per install, each a
`start` or `finish` of a dotted-path name) and the deploy ramdisk's reports are mapped
to the steps below; a step begins at the first event that names it and never goes
back (events arrive out of order across subiquity's controllers). The share of each
step is what it takes in a real install on a lab workstation; when the lab has
finished installs of its own, their step times give the estimate instead.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .store import EventRow


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    share: float  # of a whole install, in percent (the shares of a method sum to 100)
    names: tuple[str, ...] = ()  # webhook event names (prefixes) that begin it
    descriptions: tuple[str, ...] = ()  # or a curtin step named in the description
    kinds: tuple[str, ...] = ()  # or seedbed's own event kinds
    fails_on: tuple[str, ...] = ()  # a `finish ... FAIL` of these names (or under a "x/") fails it


AUTOINSTALL_STEPS = (
    Step("boot", "Network boot", 3, kinds=("boot",)),
    Step("seed", "Installer started", 4, kinds=("seed",)),
    Step("configure", "Reading the autoinstall config", 6, names=("subiquity/",)),
    Step("apt", "Configuring apt", 5, names=("subiquity/Install/install/configure_apt",)),
    Step("partition", "Partitioning the disk", 4, descriptions=("partitioning step",)),
    Step("extract", "Copying the system", 25, descriptions=("extract step",)),
    Step("curthooks", "Kernel and boot loader", 18, descriptions=("curthooks step",)),
    Step("postinstall", "Final system configuration", 10,
         names=("subiquity/Install/install/postinstall",), fails_on=("subiquity/Install/install",)),
    Step("late", "Provisioning (Docker, drivers)", 15, names=("subiquity/Late/run",),
         fails_on=("subiquity/Late/run",)),
    Step("firstboot", "First boot", 10, kinds=("installed",)),
)

IMAGE_STEPS = (
    Step("boot", "Network boot", 3, kinds=("boot",)),
    Step("ramdisk", "Deploy ramdisk up", 4, kinds=("seed",), names=("seedbed/deploy",)),
    Step("disk", "Choosing the disk", 2, names=("seedbed/deploy/disk",),
         fails_on=("seedbed/deploy/disk",)),
    Step("write", "Writing the image", 70, names=("seedbed/deploy/stream",),
         fails_on=("seedbed/deploy/stream",)),
    Step("finish", "Growing the root, pointing it at the seed", 6,
         names=("seedbed/deploy/grow", "seedbed/deploy/seed"), fails_on=("seedbed/deploy/",)),
    Step("firstboot", "First boot", 15, kinds=("installed",)),
)

STEPS = {"autoinstall": AUTOINSTALL_STEPS, "image": IMAGE_STEPS}
_WRITTEN = re.compile(r"^written (\d+) bytes")


@dataclass
class StepState:
    key: str
    title: str
    status: str = "pending"  # pending, current, done, failed
    started_at: float | None = None
    ended_at: float | None = None


@dataclass
class Progress:
    method: str
    outcome: str  # running, installed, ready, unhealthy, failed
    percent: int
    steps: list[StepState]
    current: StepState | None
    in_step_seconds: float | None
    remaining_seconds: float | None = None  # from the lab's own past installs; None without any
    written_bytes: int | None = None
    image_bytes: int | None = None
    failure: str | None = None  # the event that failed it, in words
    durations: dict[str, float] = field(default_factory=dict)  # of the steps that ended

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "outcome": self.outcome, "percent": self.percent,
                "current": self.current.key if self.current else None,
                "in_step_seconds": self.in_step_seconds, "remaining_seconds": self.remaining_seconds,
                "written_bytes": self.written_bytes, "image_bytes": self.image_bytes,
                "steps": [s.__dict__ for s in self.steps]}


def _step_of(steps: tuple[Step, ...], event: EventRow) -> int | None:
    """The index of the last step this event names (later steps win: names nest)."""
    found = None
    data = event.data if isinstance(event.data, dict) else {}
    name, description = str(data.get("name", "")), str(data.get("description", ""))
    for i, step in enumerate(steps):
        named = event.kind == "install" and (
            any(name.startswith(n) for n in step.names)
            or bool(description and any(d in description for d in step.descriptions)))
        if named or event.kind in step.kinds:
            found = i
    return found


def begins_step(webhook: dict[str, Any]) -> bool:
    """Whether a webhook event (its body as stored) names a step itself, rather than being one
    of the many events inside a step."""
    name, description = str(webhook.get("name", "")), str(webhook.get("description", ""))
    return any(name in step.names or (description and any(d in description for d in step.descriptions))
               for step in AUTOINSTALL_STEPS + IMAGE_STEPS)


def _failure(steps: tuple[Step, ...], event: EventRow) -> str | None:
    if event.kind == "failed":
        return event.message
    data = event.data if isinstance(event.data, dict) else {}
    if event.kind != "install" or data.get("event_type") != "finish" or data.get("result") != "FAIL":
        return None
    name = str(data.get("name", ""))
    if any(name == n or (n.endswith("/") and name.startswith(n)) for s in steps for n in s.fails_on):
        return f"{data.get('name')} failed: {str(data.get('description', ''))[:200]}"
    return None


def install_progress(events: Iterable[EventRow], method: str, now: float,
                     image_bytes: int | None = None,
                     typical: dict[str, float] | None = None) -> Progress:
    """Where one install is, from its events (oldest first).

    `typical`: median seconds per step of the lab's finished installs (`typical_durations`).
    """
    steps = STEPS.get(method, AUTOINSTALL_STEPS)
    states = [StepState(s.key, s.title) for s in steps]
    reached, outcome, failure, written, finished = -1, "running", None, None, None
    for event in events:
        failure = failure or _failure(steps, event)
        if event.kind in ("ready", "unhealthy"):
            outcome, finished = event.kind, event.at
        elif event.kind == "installed" and outcome == "running":
            outcome = "installed"
        index = _step_of(steps, event)
        if index is not None and index > reached:
            for state in states[reached + 1:index + 1]:
                state.started_at = event.at
            if reached >= 0:
                states[reached].ended_at = event.at
            reached = index
        data = event.data if isinstance(event.data, dict) else {}
        if data.get("name") == "seedbed/deploy/stream":
            bytes_seen = _WRITTEN.match(str(data.get("description", "")))
            written = int(bytes_seen.group(1)) if bytes_seen else written
    if failure:
        outcome = "failed"
    for i, state in enumerate(states):
        if i < reached or (i == reached and outcome in ("ready", "unhealthy")):
            state.status = "done"
        elif i == reached:
            state.status = "failed" if failure else "current"
    if finished is not None and reached >= 0:
        states[reached].ended_at = states[reached].ended_at or finished
    current = next((s for s in states if s.status in ("current", "failed")), None)
    in_step = now - current.started_at if current and current.started_at is not None else None
    fraction = _step_fraction(current, in_step, written, image_bytes, typical)
    done = sum(s.share for s, st in zip(steps, states, strict=True) if st.status == "done")
    share = next((s.share for s, st in zip(steps, states, strict=True) if st is current), 0.0)
    percent = 100 if outcome in ("ready", "unhealthy") else min(99, int(done + share * fraction))
    progress = Progress(method, outcome, percent, states, current, in_step, None, written, image_bytes,
                        failure, {s.key: s.ended_at - s.started_at for s in states
                                  if s.started_at is not None and s.ended_at is not None})
    if typical and outcome == "running" and current is not None:
        progress.remaining_seconds = _remaining(states, current, in_step or 0.0, typical)
    return progress


def _step_fraction(current: StepState | None, in_step: float | None, written: int | None,
                   image_bytes: int | None, typical: dict[str, float] | None) -> float:
    """How far into the current step: bytes written of the image, else time against the
    lab's typical time for it (never past 95%: a step is done only when the next begins)."""
    if current is None:
        return 0.0
    if current.key == "write" and written is not None and image_bytes:
        return min(1.0, written / image_bytes)
    usual = (typical or {}).get(current.key)
    if usual and in_step is not None:
        return min(0.95, in_step / usual)
    return 0.0


def _remaining(states: list[StepState], current: StepState, in_step: float,
               typical: dict[str, float]) -> float | None:
    later = states[states.index(current) + 1:]
    if current.key not in typical or any(s.key not in typical for s in later):
        return None
    return max(0.0, typical[current.key] - in_step) + sum(typical[s.key] for s in later)


def typical_durations(finished: Iterable[Progress]) -> dict[str, float]:
    """Median seconds per step over the lab's finished installs (ready or unhealthy)."""
    samples: dict[str, list[float]] = {}
    for progress in finished:
        if progress.outcome in ("ready", "unhealthy"):
            for key, seconds in progress.durations.items():
                samples.setdefault(key, []).append(seconds)
    return {key: statistics.median(values) for key, values in samples.items()}


def image_size(path: Path, image_format: str) -> int | None:
    """The bytes the deploy ramdisk writes for an image file: its size when raw, the
    content size from the zstd frame header when raw.zst (None when not recorded)."""
    try:
        if image_format == "raw":
            return path.stat().st_size
        with path.open("rb") as f:
            header = f.read(18)
    except OSError:
        return None
    return zstd_content_size(header)


def zstd_content_size(header: bytes) -> int | None:
    """Frame_Content_Size of a zstd frame (RFC 8878, 3.1.1.1), None when the frame lacks it."""
    if len(header) < 6 or header[:4] != b"\x28\xb5\x2f\xfd":
        return None
    descriptor = header[4]
    size_flag, single_segment, dict_flag = descriptor >> 6, (descriptor >> 5) & 1, descriptor & 3
    field_size = {0: 1 if single_segment else 0, 1: 2, 2: 4, 3: 8}[size_flag]
    if field_size == 0:
        return None
    start = 5 + (0 if single_segment else 1) + (0, 1, 2, 4)[dict_flag]
    raw = header[start:start + field_size]
    if len(raw) < field_size:
        return None
    value = int.from_bytes(raw, "little")
    return value + 256 if field_size == 2 else value
