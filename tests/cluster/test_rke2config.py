"""RKE2's per-node config.yaml, its token and the first boot's data, checked against rke2's flags."""

from __future__ import annotations

import hashlib
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from seedbed.cluster import data, rke2config, rke2token
from seedbed.cluster.rke2 import rke2_first_boot
from seedbed.cluster.state import ClusterPaths
from seedbed.inventory import InventoryError, load_inventory, parse_inventory
from seedbed.resources import default_inventory

from . import rke2_flags
from .conftest import NODES, lab_inventory

TOKEN = "s3cret"  # noqa: S105 - a test token
DEDICATED = {"hostname": "cp05", "macs": ["52:54:00:00:10:05"], "ip": "10.20.0.25",
             "roles": ["controlplane", "etcd"]}


def inventory(nodes: list[dict[str, Any]] | None = None, **cluster: Any) -> Any:
    return parse_inventory(yaml.safe_dump(lab_inventory(nodes, engine="rke2", **cluster))).inventory


def node(inv: Any, name: str) -> Any:
    return next(n for n in inv.nodes if n.hostname == name)


def config(inv: Any, name: str, token: str | None = TOKEN) -> dict[str, Any]:
    return rke2config.node_config(inv, node(inv, name), token)


# -- config.yaml ------------------------------------------------------------------------------

def test_the_first_server_starts_the_cluster_and_the_others_join_it_on_9345() -> None:
    inv = inventory()
    first = config(inv, "gpu01")
    assert "server" not in first and first["token"] == TOKEN
    assert first["tls-san"] == ["10.20.0.21", "gpu01", f"gpu01.{inv.site.domain}"]
    assert (first["cni"], first["ingress-controller"]) == (["canal"], ["ingress-nginx"])
    assert (first["write-kubeconfig-mode"], first["write-kubeconfig-group"]) == \
        ("0640", inv.admin.username)
    for name in ("cpu02", "cpu03", "gpu04"):
        assert config(inv, name)["server"] == "https://10.20.0.21:9345", name


def test_every_node_config_is_made_of_rke2_flags_of_its_command() -> None:
    inv = inventory(NODES + [DEDICATED])
    for n in inv.nodes:
        command = "server" if rke2config.is_server(n) else "agent"
        assert rke2_flags.validate(config(inv, n.hostname), command) == [], n.hostname
    # server-only keys on an agent would stop rke2 agent at start
    assert "tls-san" not in config(inv, "gpu04") and "cni" not in config(inv, "gpu04")


def test_gpu_nodes_are_labelled_and_dedicated_servers_tainted() -> None:
    inv = inventory(NODES + [DEDICATED])
    assert config(inv, "gpu01")["node-label"] == ["lab/rack=a", "nvidia.com/gpu.present=true"]
    assert config(inv, "gpu04")["node-label"] == ["nvidia.com/gpu.present=true"]
    assert "node-label" not in config(inv, "cpu02")
    assert config(inv, "cp05")["node-taint"] == ["CriticalAddonsOnly=true:NoExecute"]
    assert "node-taint" not in config(inv, "gpu01")


def test_the_allow_list_refuses_what_rke2_refuses() -> None:
    good = config(inventory(), "gpu01")
    assert rke2_flags.validate({**good, "tls_san": ["x"]}, "server") == \
        ["tls_san: not a flag of rke2 server"]
    assert rke2_flags.validate({**good, "node-ip": "10.20.0.21"}, "server") == \
        ["node-ip: '10.20.0.21' is not a list"]
    assert rke2_flags.validate(good, "agent")  # tls-san, cni ... are server flags
    assert rke2_flags.validate({**good, "cni": ["weave"]}, "server")
    assert rke2_flags.validate({**good, "node-taint": ["a=b:Never"]}, "server")


def test_the_cni_choice_is_checked_per_engine() -> None:
    assert config(inventory(network_plugin="cilium"), "gpu01")["cni"] == ["cilium"]
    with pytest.raises(InventoryError) as caught:
        inventory(network_plugin="weave")
    assert "not a CNI plugin rke2 deploys" in str(caught.value.problems)


def test_what_an_add_on_replaces_is_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    pins = data.rke2_versions()
    pins["disable_for_addons"] = {"metallb": ["rke2-metrics-server"], "rancher": ["rke2-nope"]}
    monkeypatch.setattr(data, "rke2_versions", lambda: pins)
    first = config(inventory(), "gpu01")
    assert first["disable"] == ["rke2-metrics-server", "rke2-nope"]
    assert rke2_flags.validate(first, "server") == \
        ["disable: 'rke2-nope' is not one of " + str(sorted(rke2_flags.DISABLE_ITEMS))]
    assert "disable" not in config(inventory(load_balancer=None, rancher={"enabled": False}),
                                   "gpu01")


def test_the_token_is_serialized_never_pasted() -> None:
    hostile = "K10abc::server:x\n# evil: true\nserver: https://evil:9345"
    text = rke2config.to_text(config(inventory(), "cpu02", hostile))
    loaded = yaml.safe_load(text)
    assert loaded["token"] == hostile and loaded["server"] == "https://10.20.0.21:9345"


def test_the_example_lab_renders_for_rke2() -> None:
    raw = yaml.safe_load(default_inventory().read_text())
    raw.setdefault("cluster", {})["engine"] = "rke2"
    inv = parse_inventory(yaml.safe_dump(raw)).inventory
    for n in inv.nodes:
        command = "server" if rke2config.is_server(n) else "agent"
        assert rke2_flags.validate(rke2config.node_config(inv, n, "t"), command) == []
    assert load_inventory(default_inventory()).inventory.cluster.engine == "rke"


# -- the inventory ----------------------------------------------------------------------------

def test_engine_defaults_to_rke_and_versions_are_named_per_engine() -> None:
    rke = parse_inventory(yaml.safe_dump(lab_inventory())).inventory
    assert rke.cluster.engine == "rke"
    assert inventory(kubernetes_version="v1.32.5+rke2r1").cluster.kubernetes_version == \
        "v1.32.5+rke2r1"
    for engine, version in (("rke2", "v1.30.14-rancher1-1"), ("rke", "v1.32.5+rke2r1")):
        with pytest.raises(InventoryError) as caught:
            parse_inventory(yaml.safe_dump(lab_inventory(engine=engine,
                                                         kubernetes_version=version)))
        assert f"is not an {engine.upper()} Kubernetes version" in str(caught.value.problems)
    with pytest.raises(InventoryError) as caught:
        parse_inventory(yaml.safe_dump(lab_inventory(engine="k3s")))
    assert "cluster.engine" in str(caught.value.problems)


# -- the token --------------------------------------------------------------------------------

def test_the_token_is_made_once_private_and_pins_the_ca_once_known(tmp_path: Path) -> None:
    paths = ClusterPaths(tmp_path / "cluster")
    secret = rke2token.ensure_token(paths)
    assert rke2token.ensure_token(paths) == secret and len(secret) == 64
    assert stat.S_IMODE(paths.rke2_token.stat().st_mode) == 0o600
    assert rke2token.join_token(paths) == secret  # the first server's CA is not known yet
    ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    import base64
    digest = rke2token.ca_hash(base64.b64encode(ca.encode()).decode())
    assert digest == hashlib.sha256(ca.encode()).hexdigest()
    rke2token.record_ca(paths, digest)
    assert rke2token.join_token(paths) == f"K10{digest}::server:{secret}"


# -- the first boot's data --------------------------------------------------------------------

def test_first_boot_data_names_files_mirror_and_commands() -> None:
    inv = inventory()
    boot = rke2_first_boot(inv, node(inv, "gpu04"), "tok")
    (conf, script_sum) = boot["files"]
    assert (conf["path"], conf["mode"]) == ("/etc/rancher/rke2/config.yaml", "0600")
    assert yaml.safe_load(conf["content"]) == config(inv, "gpu04", "tok")
    base = f"{inv.site.base_url}/files/rke2/v1.32.13%2Brke2r2/"
    assert boot["artifacts"] == {name: base + name for name in (
        "install.sh", "sha256sum-amd64.txt", "rke2.linux-amd64.tar.gz",
        "rke2-images.linux-amd64.tar.zst")}
    path = boot["artifact_path"]
    assert boot["install"] == ["env", f"INSTALL_RKE2_ARTIFACT_PATH={path}",
                               "INSTALL_RKE2_TYPE=agent", "sh", f"{path}/install.sh"]
    assert boot["start"] == ["systemctl", "enable", "--now", "rke2-agent.service"]
    assert rke2_first_boot(inv, node(inv, "gpu01"), "tok")["type"] == "server"
    assert script_sum["content"].split() == [data.rke2_versions()["install_script_sha256"],
                                             "install.sh"]
    calico = rke2_first_boot(inventory(network_plugin="calico"), node(inv, "gpu01"), "tok")
    assert "rke2-images-calico.linux-amd64.tar.zst" in calico["artifacts"]
    assert calico["place"][0][-1] == \
        "/var/lib/rancher/rke2/agent/images/rke2-images-calico.linux-amd64.tar.zst"


def test_the_first_boot_checks_fail_on_a_flipped_byte(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The verify commands, run for real by sha256sum on artifacts as the mirror serves them."""
    script = b"#!/bin/sh\necho fake install.sh\n"
    pins = data.rke2_versions()
    pins["install_script_sha256"] = hashlib.sha256(script).hexdigest()
    monkeypatch.setattr(data, "rke2_versions", lambda: pins)
    inv = inventory()
    boot = rke2_first_boot(inv, node(inv, "gpu01"), "tok")
    folder = tmp_path / "artifacts"
    folder.mkdir()
    payloads = {"install.sh": script, "rke2.linux-amd64.tar.gz": b"tarball" * 100,
                "rke2-images.linux-amd64.tar.zst": b"images" * 100}
    sums = "".join(f"{hashlib.sha256(v).hexdigest()}  {k}\n" for k, v in payloads.items()
                   if k != "install.sh")
    payloads["sha256sum-amd64.txt"] = sums.encode()
    assert set(payloads) == set(boot["artifacts"])
    for name, content in payloads.items():
        (folder / name).write_bytes(content)
    for f in boot["files"][1:]:  # the install script's pinned sum, written beside it
        (folder / Path(f["path"]).name).write_text(f["content"])

    def verify() -> list[subprocess.CompletedProcess[str]]:
        return [subprocess.run(argv, cwd=folder, capture_output=True, text=True, check=False)
                for argv in boot["verify"]]

    assert [r.returncode for r in verify()] == [0, 0]
    tarball = folder / "rke2.linux-amd64.tar.gz"
    tarball.write_bytes(b"X" + tarball.read_bytes()[1:])
    failed = verify()[1]
    assert failed.returncode != 0 and "rke2.linux-amd64.tar.gz: FAILED" in failed.stdout
    (folder / "install.sh").write_bytes(script + b"#\n")
    assert "install.sh: FAILED" in verify()[0].stdout


# -- the firewall's port matrix ---------------------------------------------------------------

@pytest.mark.parametrize("plugin", ["canal", "calico", "cilium", "flannel", "none"])
def test_the_rke2_port_matrix_is_one_the_firewall_takes(plugin: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from seedbed.cluster.rke2 import port_rules
    from seedbed.firstboot import firewall

    rules = port_rules(plugin)
    ports = {(r["port"], r["proto"]) for r in rules}
    assert {("9345", "tcp"), ("6443", "tcp"), ("10250", "tcp"), ("2379:2380", "tcp")} <= ports
    assert ("8472", "udp") in ports if plugin in ("canal", "flannel", "cilium") else True
    assert ("179", "tcp") in ports if plugin == "calico" else ("179", "tcp") not in ports
    listed = tmp_path / "ports.yaml"
    listed.write_text(yaml.safe_dump(rules))
    monkeypatch.setattr(firewall, "data_file", lambda *_: listed)
    firewall.cluster_ports.cache_clear()
    try:  # the firewall's own checks: port syntax, protocol, a comment ufw accepts
        assert len(firewall.cluster_ports()) == len(rules)
    finally:
        firewall.cluster_ports.cache_clear()
