"""SSH hardening: the one statement of seedbed's sshd policy.

Everything about sshd derives from POLICY: the drop-in file the first boot writes
(and the provisioning steps bake into the installed system and the golden image),
cloud-init's and the installer's password switches, the settings the ready report
reads back from `sshd -T`, and the health checks on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..inventory import Inventory, Node
from .base import Target

if TYPE_CHECKING:
    from ..health import Facts

DROP_IN = "/etc/ssh/sshd_config.d/10-seedbed.conf"


@dataclass(frozen=True)
class Setting:
    keyword: str
    value: str
    checked: bool = False  # a node whose `sshd -T` shows another value may not join the cluster
    why: str = ""


POLICY: tuple[Setting, ...] = (
    Setting("PermitRootLogin", "no", checked=True),
    Setting("PasswordAuthentication", "no", checked=True),
    Setting("KbdInteractiveAuthentication", "no"),
    Setting("ChallengeResponseAuthentication", "no"),
    Setting("PubkeyAuthentication", "yes"),
    Setting("AllowTcpForwarding", "yes", checked=True,
            why="RKE tunnels to the Docker socket over SSH."),
    Setting("X11Forwarding", "no"),
    Setting("MaxAuthTries", "4"),
)


def _value(keyword: str) -> str:
    return next(s.value for s in POLICY if s.keyword == keyword)


def sshd_config() -> str:
    """The drop-in's text. sshd takes the first value it reads, and the distribution's
    sshd_config includes sshd_config.d before its own settings."""
    lines = ["# Managed by seedbed (seedbed.firstboot.ssh). sshd takes the first value it reads,",
             "# and this file is included before the distribution's defaults."]
    for setting in POLICY:
        if setting.why:
            lines.append(f"# {setting.why}")
        lines.append(f"{setting.keyword} {setting.value}")
    return "\n".join(lines) + "\n"


def password_logins() -> bool:
    return _value("PasswordAuthentication") == "yes"


def installer_ssh(keys: list[str]) -> dict[str, Any]:
    """The autoinstall `ssh` section (node installs and the golden image's build alike)."""
    return {"install-server": True, "authorized-keys": keys, "allow-pw": password_logins()}


def reported_keys() -> list[str]:
    """The `sshd -T` keys the ready report sends back (sshd prints them in lower case)."""
    return [s.keyword.lower() for s in POLICY]


def config(target: Target) -> dict[str, Any]:
    return {
        "disable_root": _value("PermitRootLogin") == "no",
        "ssh_pwauth": password_logins(),
        "write_files": [{"path": DROP_IN, "permissions": "0644", "content": sshd_config()}],
        # Reload to apply the drop-in (and what contributors before this one added to sshd).
        "runcmd": [["sh", "-c", "systemctl restart ssh || systemctl restart sshd"]],
    }


def problems(inv: Inventory, node: Node, facts: Facts) -> list[str]:
    found = []
    for setting in POLICY:
        key, wanted = setting.keyword.lower(), setting.value.lower()
        seen = facts.sshd.get(key)
        if setting.checked and seen != wanted:
            found.append(f"sshd {key} is {seen or 'unknown'}, must be {wanted}")
    return found
