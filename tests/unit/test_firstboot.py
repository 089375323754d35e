"""The first boot's contributors: one listed order writes the seed and checks the facts;
the sshd policy is stated once and reaches every consumer from there."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from seedbed import firstboot, health, seeds
from seedbed.firstboot import base, ssh
from seedbed.health import Facts
from support import BASE_INVENTORY, healthy_facts, inventory_data, inventory_of

REPO = Path(__file__).resolve().parents[2]
URLS = seeds.SeedUrls("http://10.20.0.5:8080", "T" * 43)
HEALTHY = healthy_facts(BASE_INVENTORY["nodes"][0])


def lab():  # noqa: ANN201
    inv = inventory_of(inventory_data())
    return inv, inv.node_by_hostname("gpu01")


def _toy() -> types.ModuleType:
    """A new hardening step, written as any contributor is: a module with two functions."""
    toy = types.ModuleType("seedbed.firstboot.toy")

    def config(target: base.Target) -> dict[str, Any]:
        return {"write_files": [{"path": "/etc/toy.conf", "content": f"{target.node.hostname}\n"}],
                "runcmd": [["toy", "--harden"]]}

    def problems(inv: Any, node: Any, facts: Facts) -> list[str]:  # noqa: ANN401
        return [] if getattr(facts, "toy", None) == "on" else ["toy is off, must be on"]

    toy.config, toy.problems = config, problems  # type: ignore[attr-defined]
    return toy


def test_a_new_contributor_is_one_module_and_one_list_entry(monkeypatch) -> None:  # noqa: ANN001
    inv, node = lab()
    assert health.problems(inv, node, Facts(**HEALTHY)) == []
    monkeypatch.setattr(firstboot, "CONTRIBUTORS", [*firstboot.CONTRIBUTORS[:-1], _toy(),
                                                   firstboot.CONTRIBUTORS[-1]])
    config = yaml.safe_load(seeds.user_data(inv, node, URLS, "autoinstall"))["autoinstall"]["user-data"]
    assert {"path": "/etc/toy.conf", "content": "gpu01\n"} in config["write_files"]
    # In the listed place: after everything before it, before the ready report.
    assert config["runcmd"][-2:] == [["toy", "--harden"], ["python3", seeds.READY_SCRIPT]]
    assert health.problems(inv, node, Facts(**HEALTHY)) == ["toy is off, must be on"]
    assert health.problems(inv, node, Facts(**HEALTHY, toy="on")) == []


def test_two_contributors_may_not_set_the_same_key() -> None:
    with pytest.raises(ValueError, match="ssh and toy both set 'ssh_pwauth'"):
        base.merge([("ssh", {"ssh_pwauth": False}), ("toy", {"ssh_pwauth": True})])
    with pytest.raises(TypeError, match="runcmd must be a list"):
        base.merge([("toy", {"runcmd": "reboot"})])
    merged = base.merge([("a", {"runcmd": [["a"]]}), ("b", {"runcmd": [["b"]], "x": 1})])
    assert merged == {"runcmd": [["a"], ["b"]], "x": 1}


def test_the_seed_is_base_yaml_and_the_contributors_in_order() -> None:
    inv, node = lab()
    config = seeds.first_boot_config(inv, node, URLS)
    base_keys = yaml.safe_load((REPO / "cloud-init" / "base.yaml").read_text())
    assert base_keys and all(config[k] == v for k, v in base_keys.items())
    names = [c.__name__.rsplit(".", 1)[1] for c in firstboot.CONTRIBUTORS]
    assert names[0] == "identity" and names[-1] == "ready"
    assert names.index("sssd") < names.index("ssh")  # ssh's restart loads sssd's sshd files


def test_a_policy_change_changes_what_is_written_and_what_is_checked(monkeypatch) -> None:  # noqa: ANN001
    inv, node = lab()
    policy = [s if s.keyword != "X11Forwarding" else ssh.Setting("X11Forwarding", "no", checked=True)
              for s in ssh.POLICY]
    policy.append(ssh.Setting("PermitTunnel", "no", checked=True))
    monkeypatch.setattr(ssh, "POLICY", tuple(policy))
    config = seeds.first_boot_config(inv, node, URLS)
    drop_in = next(f for f in config["write_files"] if f["path"] == ssh.DROP_IN)["content"]
    assert "PermitTunnel no" in drop_in.splitlines()
    ready = json.loads(next(f for f in config["write_files"] if f["path"] == seeds.READY_CONFIG)["content"])
    assert "permittunnel" in ready["sshd_keys"]  # the ready report reads it back
    assert "SEEDBED_SSHD_CONFIG" in seeds.provision_env(inv, node)
    assert "PermitTunnel no" in seeds.provision_env(inv, None)["SEEDBED_SSHD_CONFIG"]
    found = health.problems(inv, node, Facts(**HEALTHY))
    assert found == ["sshd x11forwarding is unknown, must be no",
                     "sshd permittunnel is unknown, must be no"]


def test_password_switches_follow_the_policy(monkeypatch) -> None:  # noqa: ANN001
    inv, node = lab()
    config = seeds.autoinstall_config(inv, node, URLS)
    assert config["ssh"]["allow-pw"] is False and config["user-data"]["ssh_pwauth"] is False
    policy = tuple(ssh.Setting(s.keyword, "yes", s.checked) if s.keyword == "PasswordAuthentication"
                   else s for s in ssh.POLICY)
    monkeypatch.setattr(ssh, "POLICY", policy)
    config = seeds.autoinstall_config(inv, node, URLS)
    assert config["ssh"]["allow-pw"] is True and config["user-data"]["ssh_pwauth"] is True


# Where the sshd policy could be stated again: everything seedbed ships or runs on a node.
SHIPPED = ("server", "cloud-init", "autoinstall", "packer", "deploy", "examples", "rke")
ALLOWED = {
    # sssd's Match block re-enables passwords for the directory group only: an exception.
    ("server/seedbed/firstboot/sssd.py", "passwordauthentication"),
    # preflight's advice to a user whose node refuses the Docker tunnel names the setting.
    ("server/seedbed/cluster/preflight.py", "allowtcpforwarding"),
    ("autoinstall/schema.json", "allow-pw"),  # the installer's own schema, upstream's text
    ("autoinstall/schema-22.04.json", "allow-pw"),  # derived from subiquity's own schemas
    ("autoinstall/schema-24.04.json", "allow-pw"),
}


def test_the_sshd_policy_is_stated_once() -> None:
    own = REPO / "server/seedbed/firstboot/ssh.py"
    words = [s.keyword for s in ssh.POLICY] + ["ssh_pwauth", "allow-pw", "disable_root"]
    pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)
    seen: list[str] = []
    for folder in SHIPPED:
        for path in sorted((REPO / folder).rglob("*")):
            if not path.is_file() or path == own or "__pycache__" in path.parts:
                continue
            relative = str(path.relative_to(REPO))
            for match in pattern.finditer(path.read_text(errors="replace")):
                if (relative, match.group(0).lower()) not in ALLOWED:
                    seen.append(f"{relative}: {match.group(0)}")
    assert seen == [], "the sshd policy belongs in seedbed/firstboot/ssh.py alone"
    assert pattern.search(own.read_text())


def test_the_ready_script_reports_the_settings_its_config_names(tmp_path: Path,
                                                                monkeypatch) -> None:  # noqa: ANN001
    fake = tmp_path / "sshd"
    fake.write_text("#!/bin/sh\nprintf 'permitrootlogin no\\nport 22\\npermittunnel no\\n'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    spec = importlib.util.spec_from_file_location("seedbed_ready",
                                                  REPO / "cloud-init/files/seedbed-ready.py")
    assert spec and spec.loader
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.sshd({"permitrootlogin", "permittunnel"}) == {"permitrootlogin": "no",
                                                                "permittunnel": "no"}
    assert script.sshd(set(ssh.reported_keys())) == {"permitrootlogin": "no"}


def test_the_provisioning_step_writes_the_same_drop_in(tmp_path: Path) -> None:
    inv, node = lab()
    target = tmp_path / "etc/ssh/sshd_config.d/10-seedbed.conf"
    steps = seeds.provision_script(inv, None).split("\n# --- ")
    header = steps[0].replace(f"export SEEDBED_SSHD_DROP_IN={ssh.DROP_IN}\n",
                              f"export SEEDBED_SSHD_DROP_IN={target}\n")
    assert str(target) in header
    (step,) = [s for s in steps if s.startswith("40-sshd.sh")]
    subprocess.run(["bash", "-c", header + "\n# --- " + step], check=True, timeout=30)
    config = seeds.first_boot_config(inv, node, URLS)
    written = next(f for f in config["write_files"] if f["path"] == ssh.DROP_IN)["content"]
    assert target.read_text() == written == ssh.sshd_config()
    assert oct(target.stat().st_mode & 0o777) == "0o644"
