"""The ready report: last in the first boot, a script posts the node's facts to seedbed.

The facts it sends are the ones the contributors check (seedbed.health); the sshd
settings it reads back are named in its config, from the ssh contributor's policy.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..inventory import Inventory, Node
from . import rke2, ssh
from .base import Target, file_text

if TYPE_CHECKING:
    from ..health import Facts

READY_SCRIPT = "/usr/local/lib/seedbed/seedbed-ready.py"
READY_CONFIG = "/etc/seedbed/ready.json"


def config(target: Target) -> dict[str, Any]:
    ready = {"url": target.urls.callback("ready"), "hostname": target.node.hostname,
             "sshd_keys": ssh.reported_keys(), **rke2.ready_settings(target)}
    return {
        "write_files": [
            {"path": READY_SCRIPT, "permissions": "0755", "content": file_text("files/seedbed-ready.py")},
            {"path": READY_CONFIG, "permissions": "0600", "content": json.dumps(ready) + "\n"},
        ],
        "runcmd": [["python3", READY_SCRIPT]],
    }


def problems(inv: Inventory, node: Node, facts: Facts) -> list[str]:
    return []
