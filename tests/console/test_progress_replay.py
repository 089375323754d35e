"""Install progress from the installer's own event streams (subiquity 23.02.1 dry-run,
recorded by tests/installer/record_events.py), replayed into a service through its HTTP
endpoints, and from the deploy ramdisk's byte counts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from seedbed.progress import AUTOINSTALL_STEPS, install_progress, zstd_content_size
from seedbed.web.console.model import Lab
from support import Clock

from .replay import boot, healthy_report, recorded, replay

MAC = "52:54:00:00:00:02"  # gpu02: a worker without GPUs
STEP_KEYS = [s.key for s in AUTOINSTALL_STEPS]


def _progress(service: Any) -> Any:
    return Lab(service).machine("gpu02")["progress"]


def _install(client: Any, service: Any, clock: Clock, case: str,
             seen: list[tuple[str, int, str]] | None = None) -> str:
    token = boot(client.get, MAC)
    clock.advance(3)

    def note(_i: int, _event: dict[str, Any]) -> None:
        if seen is not None:
            p = _progress(service)
            seen.append((p.current.key if p.current else "", p.percent, p.outcome))

    replay(lambda path, body: client.post(path, json=body), token, recorded(case)["events"],
           clock.advance, note)
    return token


def test_the_recorded_streams_are_whole_installs() -> None:
    for case in ("success", "late-fail"):
        events = recorded(case)["events"]
        assert 117 <= len(events) <= 168, f"{case}: {len(events)} events"
        assert events[0]["event_type"] == "start"


def test_a_successful_install_walks_every_step_in_order(client, service, clock) -> None:  # noqa: ANN001
    seen: list[tuple[str, int, str]] = []
    token = _install(client, service, clock, "success", seen)
    reached = [key for key, _, _ in seen]
    firsts = sorted(set(reached), key=reached.index)
    assert firsts == STEP_KEYS[2:-1], f"steps reached in order: {firsts}"
    percents = [p for _, p, _ in seen]
    assert percents == sorted(percents), "progress went backwards"
    # No past install to time the current step by: each step counts once it is over.
    assert percents[-1] == sum(s.share for s in AUTOINSTALL_STEPS[:STEP_KEYS.index("late")]), percents
    assert percents[0] == sum(s.share for s in AUTOINSTALL_STEPS[:2]), percents
    assert {o for _, _, o in seen} == {"running"}

    clock.advance(5)
    assert client.post(f"/api/v1/callback/{token}/installed").status_code == 200
    p = _progress(service)
    assert (p.current.key, p.outcome) == ("firstboot", "installed")
    clock.advance(60)
    assert client.post(f"/api/v1/callback/{token}/ready", json=healthy_report("gpu02", 0)).status_code == 200
    p = _progress(service)
    assert (p.percent, p.outcome, p.current) == (100, "ready", None)
    assert all(s.status == "done" for s in p.steps), [(s.key, s.status) for s in p.steps]
    # The mirror wait of the dry-run (10 s, no network) is inside "configure".
    assert p.durations["configure"] == pytest.approx(10.1, abs=0.5), p.durations
    assert p.durations["firstboot"] == pytest.approx(60, abs=1)


def test_a_failing_late_command_fails_the_late_step_with_its_words(client, service, clock) -> None:  # noqa: ANN001
    token = _install(client, service, clock, "late-fail")
    p = _progress(service)
    assert (p.outcome, p.current.key, p.current.status) == ("failed", "late", "failed")
    assert p.failure.startswith("subiquity/Late/run failed: Command"), p.failure
    # The error-commands' `failed` callback brings the log tail; the page shows it.
    assert client.post(f"/api/v1/callback/{token}/failed", data="E: curl: (7) connection refused\n",
                       content_type="text/plain").status_code == 200
    node = Lab(service).machine("gpu02")
    assert "curl: (7)" in node["failure_log"]
    assert node["progress"].outcome == "failed"


def test_the_estimate_comes_from_the_labs_own_installs(client, service, clock) -> None:  # noqa: ANN001
    token = _install(client, service, clock, "success")
    client.post(f"/api/v1/callback/{token}/installed")
    clock.advance(120)
    client.post(f"/api/v1/callback/{token}/ready", json=healthy_report("gpu02", 0))
    assert client.post("/api/v1/nodes/gpu02/reinstall", headers=_admin(service)).status_code == 200

    token = boot(client.get, MAC)
    assert _progress(service).remaining_seconds is not None
    events = recorded("success")["events"]
    cut = next(i for i, e in enumerate(events) if "extract step" in e.get("description", ""))
    replay(lambda path, body: client.post(path, json=body), token, events[:cut + 1], clock.advance)
    early = _progress(service)
    assert early.current.key == "extract"
    # What is left: the first install's time from its extract step on, first boot (120 s) included.
    expected = events[-1]["offset"] - events[cut]["offset"] + 120
    assert early.remaining_seconds == pytest.approx(expected, abs=0.01), early.remaining_seconds
    clock.advance(30)
    later = _progress(service)
    assert later.remaining_seconds <= early.remaining_seconds
    assert later.percent >= early.percent


def _admin(service: Any) -> dict[str, str]:
    from seedbed.tokens import new_token, token_hash

    token = new_token()
    service.store.add_admin_token(token_hash(token), "tests")
    return {"Authorization": f"Bearer {token}"}


def _deploy_event(kind: str, name: str, description: str, at: float) -> Any:
    from seedbed.store import EventRow

    data = {"name": name, "event_type": kind, "description": description}
    return EventRow(0, at, "gpu01", None, 1, "install", f"{kind} {name}", data)


def test_the_image_write_is_a_share_of_the_image_size() -> None:
    from seedbed.store import EventRow

    events = [EventRow(0, 0.0, "gpu01", None, 1, "boot", "install #1 started (image)", None),
              _deploy_event("start", "seedbed/deploy", "deploy ramdisk up", 5.0),
              _deploy_event("finish", "seedbed/deploy/disk", "selected /dev/vda", 6.0),
              _deploy_event("progress", "seedbed/deploy/stream", "written 536870912 bytes to /dev/vda", 16.0)]
    p = install_progress(events, "image", now=20.0, image_bytes=2 * 2**30)
    assert (p.current.key, p.written_bytes, p.in_step_seconds) == ("write", 536870912, 4.0)
    assert p.percent == 3 + 4 + 2 + int(70 * 0.25)
    events.append(_deploy_event("finish", "seedbed/deploy/stream", "checksum mismatch", 30.0))
    events[-1].data["result"] = "FAIL"
    failed = install_progress(events, "image", now=31.0, image_bytes=2 * 2**30)
    assert (failed.outcome, failed.current.status) == ("failed", "failed")


@pytest.mark.skipif(shutil.which("zstd") is None, reason="zstd (Debian package zstd) is not installed")
def test_the_image_size_is_read_from_a_real_zstd_frame(tmp_path: Path) -> None:
    raw = tmp_path / "disk.raw"
    raw.write_bytes(b"\0" * 3_000_001)
    subprocess.run(["zstd", "-q", "-3", str(raw), "-o", str(tmp_path / "disk.raw.zst")], check=True)
    header = (tmp_path / "disk.raw.zst").read_bytes()[:18]
    assert zstd_content_size(header) == 3_000_001
    with (tmp_path / "disk.raw.zst").open("rb") as f:
        subprocess.run(["zstd", "-q", "-c", "-"], stdin=f, stdout=(tmp_path / "piped.zst").open("wb"),
                       check=True)
    assert zstd_content_size((tmp_path / "piped.zst").read_bytes()[:18]) is None  # size unknown in a pipe
