"""Replay a recorded installer event stream (fixtures/installer-events-*.json) into seedbed
the way a machine sends it: boot, seed fetch, every webhook event, then the callbacks."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support import seed_token

FIXTURES = Path(__file__).parent / "fixtures"
Get = Callable[[str], Any]  # path -> response with .status_code and .text
Post = Callable[[str, Any], Any]  # path, JSON body -> response with .status_code


def recorded(case: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"installer-events-{case}.json").read_text())


def webhook_body(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != "offset"}


def boot(get: Get, mac: str) -> str:
    """The machine's PXE boot and its installer's seed fetch: the install token."""
    script = get(f"/ipxe?mac={mac}")
    assert script.status_code == 200, f"stage boot: /ipxe answered {script.status_code}"
    token = seed_token(script.text)
    seed = get(f"/seed/{token}/user-data")
    assert seed.status_code == 200, f"stage seed: user-data answered {seed.status_code}"
    return token


def replay(post: Post, token: str, events: list[dict[str, Any]], wait: Callable[[float], None],
           on_event: Callable[[int, dict[str, Any]], None] | None = None) -> None:
    """Post each event after waiting out its recorded offset (`wait` advances a clock or sleeps)."""
    previous = events[0]["offset"] if events else 0.0
    for i, event in enumerate(events):
        wait(event["offset"] - previous)
        previous = event["offset"]
        answer = post(f"/api/v1/report/{token}", webhook_body(event))
        assert answer.status_code == 200, f"stage report #{i} ({event['name']}): {answer.status_code}"
        if on_event:
            on_event(i, event)


def healthy_report(hostname: str, gpus: int) -> dict[str, Any]:
    """A ready report that passes every health check for a node with `gpus` GPUs."""
    from cluster.conftest import healthy_facts

    return healthy_facts({"hostname": hostname, "gpus": gpus})
