"""The node firewall rendered for the seed: exactly the documented ports, from the lab
subnet only, everything else denied inbound."""

from __future__ import annotations

import shlex

from seedbed import seeds
from seedbed.firstboot.firewall import ufw_commands
from support import inventory_data, inventory_of

# The port list of the cluster documentation (RKE + Canal + ingress + MetalLB L2),
# written out here so a change to rke/ports.yaml must be made on purpose in both places.
# 9099 (Canal) and 10254 (ingress) are left out: only the node's own kubelet probes them.
DOCUMENTED = {
    ("22", "tcp"),
    ("80", "tcp"),
    ("443", "tcp"),
    ("2379:2380", "tcp"),
    ("6443", "tcp"),
    ("10250", "tcp"),
    ("8472", "udp"),
    ("30000:32767", "tcp"),
    ("30000:32767", "udp"),
    ("7946", "tcp"),
    ("7946", "udp"),
}


def _allowed(commands: list[list[str]]) -> list[tuple[str, str, str]]:
    """(source, port, proto) of every `ufw allow` rule."""
    rules = []
    for argv in commands:
        if argv[:2] == ["ufw", "allow"]:
            assert argv[2:4] == ["from", argv[3]] and argv[4:7] == ["to", "any", "port"], argv
            assert argv[8] == "proto", argv
            rules.append((argv[3], argv[7], argv[9]))
    return rules


def test_rules_allow_exactly_the_documented_ports_from_the_subnet() -> None:
    inv = inventory_of(inventory_data())
    commands = ufw_commands(inv)
    rules = _allowed(commands)
    assert {(port, proto) for _, port, proto in rules} == DOCUMENTED
    assert len(rules) == len(DOCUMENTED)  # no duplicates
    assert {source for source, _, _ in rules} == {"10.20.0.0/24"}
    assert commands[0] == ["ufw", "--force", "reset"]  # nothing left from before
    assert ["ufw", "default", "deny", "incoming"] in commands
    assert commands[-1] == ["ufw", "--force", "enable"]
    assert not any(a[:2] == ["ufw", "allow"] and "from" not in a for a in commands)


def test_first_boot_seed_runs_those_rules() -> None:
    inv = inventory_of(inventory_data())
    node = inv.nodes[0]
    config = seeds.first_boot_config(inv, node, seeds.SeedUrls(inv.site.base_url, "T"))
    scripts = [c[2] for c in config["runcmd"] if c[:2] == ["sh", "-c"] and "ufw" in c[2]]
    assert len(scripts) == 1
    body = scripts[0].split("then ", 1)[1].rsplit("; fi", 1)[0]
    assert [shlex.split(part) for part in body.split("; ")] == ufw_commands(inv)


def test_port_comments_are_ones_ufw_accepts(monkeypatch, tmp_path) -> None:  # noqa: ANN001
    """ufw rejects a quote in a comment and silently skips that rule (port 22 once)."""
    import pytest

    from seedbed.firstboot import firewall

    bad = tmp_path / "ports.yaml"
    bad.write_text("- {port: '22', proto: tcp, why: \"RKE's tunnel\"}\n")
    monkeypatch.setattr(firewall, "data_file", lambda folder, name: bad)
    firewall.cluster_ports.cache_clear()
    try:
        with pytest.raises(ValueError, match="ufw refuses the comment"):
            firewall.cluster_ports()
    finally:
        firewall.cluster_ports.cache_clear()
