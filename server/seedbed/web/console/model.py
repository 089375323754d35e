"""What the console's pages show, built from the service's parts (no HTML here)."""

from __future__ import annotations

import contextlib
import functools
import time
from typing import Any

from ... import limits, views
from ...power.driver import ACTIONS, Capabilities
from ...progress import Progress, begins_step, image_size, install_progress, typical_durations
from ...service import Seedbed
from ...store import Store

HISTORY_INSTALLS = 20  # finished installs per method the estimates are taken from
STATES = ("new", "armed", "installing", "installed", "ready", "unhealthy", "failed")


class Lab:
    """One request's view of the lab: nodes with their install progress, discovered machines."""

    def __init__(self, service: Seedbed):
        self.service = service
        self.inventory = service.inventory
        self.store = service.store
        self.now = service.lifecycle.clock()
        self._typical: dict[str, dict[str, float]] = {}

    def typical(self, method: str) -> dict[str, float]:
        if method not in self._typical:
            finished = tuple(i.id for i in self.store.finished_installs(method, HISTORY_INSTALLS))
            self._typical[method] = _typical(self.store, method, finished)
        return self._typical[method]

    def _image_bytes(self) -> int | None:
        image = self.inventory.image
        if image is None or image.is_url():
            return None
        return image_size(self.service.settings.artifacts / image.file, image.format)

    def progress(self, install_id: int | None) -> Progress | None:
        install = self.store.install(install_id) if install_id else None
        if install is None:
            return None
        image_bytes = self._image_bytes() if install.method == "image" else None
        return install_progress(self.store.install_events(install.id), install.method, self.now,
                                image_bytes, self.typical(install.method))

    def machines(self, state: str | None = None) -> list[dict[str, Any]]:
        rows = []
        for summary in views.node_summaries(self.inventory, self.service.lifecycle):
            if state and summary["state"] != state:
                continue
            # The list shows a bar only while an install runs or after it failed.
            running = summary["state"] in ("installing", "installed", "failed")
            summary["progress"] = self.progress(summary["install"]) if running else None
            rows.append(summary)
        return rows

    def machine(self, hostname: str, every_event: bool = False) -> dict[str, Any] | None:
        """A node with its progress, failure log and timeline (newest first; the installer's
        own events only where they begin a step or fail, unless `every_event`)."""
        detail = views.node_detail(self.inventory, self.service.lifecycle, hostname)
        if detail is None:
            return None
        detail["progress"] = self.progress(detail["install"])
        install = self.store.install(detail["install"]) if detail["install"] else None
        detail["install_row"] = install
        detail["failure_log"] = (self.mask(_tail(install.log)) if install and install.log else None)
        events = views.event_dicts(self.store.events(hostname, limit=limits.CONSOLE_TIMELINE_EVENTS))
        shown = events if every_event else [e for e in events if _milestone(e)]
        detail["events"] = [{**e, "message": self.mask(e["message"])} for e in reversed(shown)]
        detail["events_hidden"] = len(events) - len(shown)
        detail["reinstall_minutes"] = self.inventory.site.reinstall_window_minutes
        detail["power"] = self.power(hostname)
        return detail

    def power(self, hostname: str) -> dict[str, Any] | None:
        """The node's power driver, what it can do (the actions offered), its last polled
        state with its age and its recent jobs; None without `power:`."""
        node = self.inventory.node_by_hostname(hostname)
        if node is None or node.power is None:
            return None
        summary = self.service.power.summary(hostname)
        can = summary["capabilities"] or {}
        summary["actions"] = [a for a in ACTIONS if Capabilities(**can).allows(a)] if can else []
        summary["problem"] = self.mask(summary["problem"] or "") or None
        if summary["status"] and summary["status"]["error"]:
            summary["status"]["error"] = self.mask(summary["status"]["error"])
        for job in summary["jobs"]:
            job["outcome"] = self.mask(job["outcome"] or "") or None
        return summary

    def discovered(self, mac: str | None = None) -> list[dict[str, Any]]:
        found = [d for d in self.store.discovered() if not d.get("accepted_as")]
        return [d for d in found if d["mac"] == mac] if mac else found

    def cluster(self, job_id: int | None = None) -> dict[str, Any]:
        status = self.service.cluster.status()
        jobs = self.service.cluster.jobs
        job = jobs.job(job_id) if job_id else (jobs.recent(1) or [None])[0]
        status["job"] = job.summary() if job else None
        status["job_log"] = self.mask(_tail(job.log)) if job else ""
        status["addons"] = _addons(self.inventory, job)
        return status

    def secrets(self) -> list[str]:
        """Values no page may show, wherever they turn up (a log tail, an event)."""
        found = [self.inventory.admin.password_hash or ""]
        if self.inventory.admin.password is not None:
            found.append(self.inventory.admin.password.get_secret_value())
        if self.inventory.ldap is not None:
            found.append(self.inventory.ldap.bind_password.get_secret_value())
        given = self.inventory.cluster.rancher.bootstrap_password
        if given is not None:
            found.append(given.get_secret_value())
        paths = self.service.cluster.paths
        for kept in (paths.rancher_password, paths.rke2_token):  # read, never generated by looking
            with contextlib.suppress(OSError, UnicodeDecodeError):
                found.append(kept.read_text(encoding="ascii").strip())
        found += self.service.power.secrets.values()  # BMC passwords
        return [s for s in found if len(s) >= 4]

    def mask(self, text: str) -> str:
        for secret in self.secrets():
            text = text.replace(secret, "[hidden]")
        return text


@functools.lru_cache(maxsize=32)
def _typical(store: Store, method: str, finished: tuple[int, ...]) -> dict[str, float]:
    """Step times of these finished installs (they no longer change: cached by their ids)."""
    return typical_durations(install_progress(store.install_events(i), method, 0.0) for i in finished)


def _milestone(event: dict[str, Any]) -> bool:
    """seedbed's own events, and the installer events a person reads: a step begins, or fails."""
    if event["kind"] != "install":
        return True
    data = event["data"] if isinstance(event["data"], dict) else {}
    if data.get("result") == "FAIL":
        return True
    return data.get("event_type") in ("start", "progress") and begins_step(data)


def _tail(text: str) -> str:
    return "\n".join(text.splitlines()[-limits.CONSOLE_LOG_TAIL_LINES:])


def _addons(inventory: Any, job: Any) -> list[dict[str, Any]]:
    """The add-ons this inventory installs, with what the newest cluster job did with them."""
    from ...cluster import addons

    out = []
    for release in addons.plan(inventory, inventory.nodes):
        named = bool(job and job.stage and release.release in job.stage)
        if job is None:
            state = "not installed yet"
        elif job.state == "succeeded":
            state = f"installed by job #{job.id}"
        elif named:
            state = f"{job.state} in job #{job.id}"
        else:
            state = f"waiting (job #{job.id} {job.state})"
        out.append({"name": release.release, "chart": release.chart, "version": release.version,
                    "namespace": release.namespace, "state": state})
    return out


def ago(at: float | None, now: float | None = None) -> str:
    if not at:
        return "-"
    seconds = max(0, int((now or time.time()) - at))
    return duration(seconds) + " ago"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} days"
