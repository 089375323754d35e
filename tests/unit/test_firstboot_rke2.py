"""RKE2's first boot (firstboot/rke2.py): what an RKE2 member's seed writes and runs, where its
token goes (the member's own served seed only), and the checks of containerd that replace
Docker's; RKE nodes get exactly what they got before."""

from __future__ import annotations

import logging
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from seedbed import firstboot, health, seeds
from seedbed.checks import PREVIEW_TOKEN
from seedbed.cli import main
from seedbed.cluster import rke2token
from seedbed.cluster.rke2 import port_rules, rke2_first_boot
from seedbed.cluster.state import ClusterPaths
from seedbed.firstboot import firewall, rke2
from seedbed.health import Facts
from support import healthy_facts, inventory_data, inventory_of, seed_token, write_inventory

URLS = seeds.SeedUrls("http://10.20.0.5:8080", "T" * 43)
MAC1 = "52:54:00:00:00:01"  # gpu01: the first server, 2 GPUs
RKE2 = {"engine": "rke2"}


def _config(inv: Any, hostname: str, token: str | None = None) -> dict[str, Any]:  # noqa: ANN401
    return seeds.first_boot_config(inv, inv.node_by_hostname(hostname), URLS, None, token)


def _file(config: dict[str, Any], path: str) -> dict[str, Any]:
    (found,) = [f for f in config["write_files"] if f["path"] == path]
    return found


def test_rke_seeds_are_what_they_were_without_the_rke2_part(monkeypatch: pytest.MonkeyPatch) -> None:
    inv = inventory_of(inventory_data())
    token = "a-join-token-rke-has-no-use-for"
    with_rke2 = [seeds.user_data(inv, n, URLS, "autoinstall", "ssh-ed25519 AAAA k", token)
                 for n in inv.nodes]
    assert not [t for t in with_rke2 if token in t or "/etc/rancher" in t or "rke2-install" in t]
    monkeypatch.setattr(firstboot, "CONTRIBUTORS",
                        [c for c in firstboot.CONTRIBUTORS if c is not rke2])
    assert [seeds.user_data(inv, n, URLS, "autoinstall", "ssh-ed25519 AAAA k", token)
            for n in inv.nodes] == with_rke2


def test_an_rke2_member_writes_config_yaml_and_runs_the_install_script() -> None:
    inv = inventory_of(inventory_data(cluster=RKE2))
    config = _config(inv, "gpu01", "s3cr3t-token")
    plan = rke2_first_boot(inv, inv.node_by_hostname("gpu01"), "s3cr3t-token")
    written = _file(config, "/etc/rancher/rke2/config.yaml")
    assert (written["permissions"], written["owner"]) == ("0600", "root:root")
    node_config = yaml.safe_load(written["content"])
    assert node_config["token"] == "s3cr3t-token" and node_config["node-name"] == "gpu01"
    script = _file(config, rke2.INSTALL_SCRIPT)
    assert script["permissions"] == "0700"
    # The install runs after the node is set up and before the ready report reads containerd.
    assert config["runcmd"][-2:] == [["sh", rke2.INSTALL_SCRIPT], ["python3", seeds.READY_SCRIPT]]
    # Every step of the script is one of rke2_first_boot's argv lists, word for word.
    steps = [shlex.split(line)[1:] for line in script["content"].splitlines()
             if line.startswith("step ")]
    assert steps[0] == ["make the artifact folder", "mkdir", "-p", plan["artifact_path"]]
    steps = steps[1:]
    assert steps == [[what, *argv] for what, argv in rke2.steps(plan)]
    argvs = [argv for _, *argv in steps]
    assert [a for a in argvs if a[0] == "sha256sum"] == plan["verify"]
    assert argvs[-2:] == [plan["install"], plan["start"]]
    assert {a[-1] for a in argvs if a[0] == "curl"} == set(plan["artifacts"].values())
    ready = _file(config, seeds.READY_CONFIG)["content"]
    assert rke2.CONTAINERD_SOCKET in ready and rke2.FAILED_FILE in ready


def test_hostile_values_stay_words_of_the_script(monkeypatch: pytest.MonkeyPatch) -> None:
    inv = inventory_of(inventory_data(cluster=RKE2))
    plan = rke2_first_boot(inv, inv.node_by_hostname("gpu02"), "t")
    plan["artifact_path"] = "/tmp/a dir/$(touch pwned)'; reboot #"
    plan["artifacts"] = {"x; reboot": "http://10.20.0.5:8080/files/`id`"}
    text = rke2.install_script(plan)
    lines = text.splitlines()
    cd = lines[lines.index('rm -f "$FAILED"') + 3]
    assert shlex.split(cd) == ["cd", plan["artifact_path"], "||", "exit", "1"]
    fetch = next(line for line in lines if line.startswith("step 'fetch"))
    assert shlex.split(fetch)[-3:] == ["--output", "x; reboot", "http://10.20.0.5:8080/files/`id`"]


def test_the_token_is_in_the_members_served_seed_only(client, service, tmp_path: Path,  # noqa: ANN001
                                                      capsys: pytest.CaptureFixture[str],
                                                      caplog: pytest.LogCaptureFixture) -> None:
    inventory = write_inventory(tmp_path / "lab.yaml", inventory_data(cluster=RKE2))
    assert service.refresh()
    assert service.inventory.cluster.engine == "rke2"
    paths = ClusterPaths(tmp_path / "state" / "cluster")
    caplog.set_level(logging.DEBUG)
    token = seed_token(client.get(f"/ipxe?mac={MAC1}&buildarch=x86_64&platform=efi").text)
    served = client.get(f"/seed/{token}/user-data")
    assert served.status_code == 200, served.text
    secret = rke2token.read_token(paths)  # made for the first member's seed, 0600
    assert oct(paths.rke2_token.stat().st_mode & 0o777) == "0o600"
    written = _file(yaml.safe_load(served.text)["autoinstall"]["user-data"],
                    "/etc/rancher/rke2/config.yaml")
    assert yaml.safe_load(written["content"])["token"] == secret
    assert secret not in caplog.text, "the token reached a log"
    # The preview masks it unless asked.
    state = ["--inventory", str(inventory), "--state", str(tmp_path / "state")]
    assert main(["render", "user-data", "--mac", MAC1, *state]) == 0
    preview = capsys.readouterr().out
    assert secret not in preview and rke2.HIDDEN_TOKEN in preview
    assert main(["render", "cloud-config", "--mac", MAC1, "--show-secrets", *state]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert yaml.safe_load(_file(shown, "/etc/rancher/rke2/config.yaml")["content"])["token"] == secret
    assert PREVIEW_TOKEN in _file(shown, seeds.READY_CONFIG)["content"]


def _rke2_facts(index: int = 0, **rke2_facts: Any) -> dict[str, Any]:  # noqa: ANN401
    node = inventory_data()["nodes"][index]  # 0: gpu01 with 2 GPUs, 1: gpu02 with none
    facts = healthy_facts(node, docker={"version": None})  # no Docker at all
    facts["rke2"].update(rke2_facts)
    return facts


def test_rke2_nodes_are_checked_on_containerd_and_docker_is_theirs() -> None:
    rke2_inv, rke_inv = inventory_of(inventory_data(cluster=RKE2)), inventory_of(inventory_data())
    node = rke2_inv.node_by_hostname("gpu01")
    assert health.problems(rke2_inv, node, Facts(**_rke2_facts())) == []
    assert health.problems(rke_inv, node, Facts(**_rke2_facts())) == [
        "Docker is not installed or not running"]
    failed = "verify sha256sum-amd64.txt: rke2.linux-amd64.tar.gz: FAILED\n"
    assert health.problems(rke2_inv, node, Facts(**_rke2_facts(install_failed=failed))) == [
        "RKE2 install failed at verify sha256sum-amd64.txt: rke2.linux-amd64.tar.gz: FAILED"]
    assert health.problems(rke2_inv, node, Facts(**_rke2_facts(containerd_running=False))) == [
        f"containerd is not running (no socket {rke2.CONTAINERD_SOCKET})"]
    no_nvidia = Facts(**_rke2_facts(containerd_runtimes=["runc"]))
    assert health.problems(rke2_inv, node, no_nvidia) == [
        "containerd has no 'nvidia' runtime (runc), GPU nodes need it"]
    cpu = rke2_inv.node_by_hostname("gpu02")  # no GPUs: runc is enough
    assert health.problems(rke2_inv, cpu, Facts(**_rke2_facts(1, containerd_runtimes=["runc"]))) == []
    # An old ready script (no rke2 facts) on an RKE2 node: containerd unknown, not healthy.
    old = {k: v for k, v in _rke2_facts().items() if k != "rke2"}
    assert health.problems(rke2_inv, node, Facts(**old)) != []


@pytest.mark.parametrize("plugin", ["canal", "calico"])
def test_the_firewall_opens_the_engines_ports(plugin: str) -> None:
    inv = inventory_of(inventory_data(cluster={**RKE2, "network_plugin": plugin}))
    opened = [(a[7], a[9], a[11]) for a in firewall.ufw_commands(inv) if a[1] == "allow"]
    assert opened == [(r["port"], r["proto"], r["why"]) for r in port_rules(plugin)]
    assert ("9345", "tcp") in {(p, proto) for p, proto, _ in opened}
    rke = [a for a in firewall.ufw_commands(inventory_of(inventory_data())) if a[1] == "allow"]
    assert "9345" not in {a[7] for a in rke} and len(rke) == len(firewall.cluster_ports())
