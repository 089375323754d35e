"""Ubuntu releases per node: 20.04 (default, unchanged), 22.04 and 24.04.

Each release's seeds pass its own installer's schema; the boot line carries the
release's datasource name through the decision; the provisioning pins follow the
node's release; validate warns where a node's stated memory cannot hold the ISO.
"""

from __future__ import annotations

import json
import subprocess
import typing
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from release_schemas import UPSTREAM, derive, sources_dir, target, upstream_schema
from release_schemas import render as render_schema
from seedbed import boot, render, seeds
from seedbed.checks import PREVIEW_TOKEN, autoinstall_problems, seed_problems
from seedbed.inventory import Inventory, InventoryError, load_inventory, parse_inventory
from seedbed.releases import ReleaseName, release, releases
from seedbed.resources import data_file, default_inventory
from seedbed.web import create_app
from support import inventory_data, seed_token

URLS = seeds.SeedUrls("http://10.20.0.5:8080", PREVIEW_TOKEN)
RELEASE_ONLY_KEYS = ("source", "drivers", "kernel", "updates", "shutdown")


def example_as(name: str, **installer: Any) -> Inventory:
    """examples/lab.yaml with every node on release `name` (the site's default)."""
    data = yaml.safe_load(default_inventory().read_text())
    data["installer"] = {"release": name, **installer}
    data["site"]["apt"] = {"mirror": "http://192.168.10.5:3142/ubuntu"}
    return parse_inventory(yaml.safe_dump(data)).inventory


def autoinstall(inv: Inventory, hostname: str) -> dict[str, Any]:
    node = inv.node_by_hostname(hostname)
    return yaml.safe_load(seeds.user_data(inv, node, URLS, "autoinstall"))["autoinstall"]


def test_the_release_names_the_inventory_takes_are_the_releases_data_describes() -> None:
    assert set(typing.get_args(ReleaseName)) == set(releases())
    for rel in releases().values():
        schema = json.loads(data_file("autoinstall", rel.schema).read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        assert rel.netboot_ram_mib > rel.iso_mib > 1000
        assert rel.builds_for(rel.docker["docker"]) and rel.builds_for(rel.docker["buildx"])


@pytest.mark.parametrize("name", ["22.04", "24.04"])
@pytest.mark.parametrize("hostname", ["gpu01", "gpu02", "gpu03", "gpu04"])
def test_every_example_node_rendered_for_a_release_passes_that_release_s_checks(
        name: str, hostname: str) -> None:
    inv = example_as(name)
    config = autoinstall(inv, hostname)
    text = seeds.cloud_config({"autoinstall": config})
    assert autoinstall_problems(text, name) == []
    assert config["source"] == {"id": "ubuntu-server", "search_drivers": False}
    assert config["drivers"] == {"install": False}
    assert (config["kernel"], config["updates"], config["shutdown"]) == (
        {"flavor": "generic"}, "security", "reboot")
    assert ("fallback" in config["apt"]) == (name == "24.04")
    lab0 = config["network"]["ethernets"]["lab0"]
    assert "gateway4" not in lab0 and lab0["routes"] == [{"to": "default", "via": "192.168.10.1"}]
    # The 20.04 installer has none of these keys: its check refuses them all.
    old = autoinstall_problems(text, "20.04")
    assert all(any(f"'{key}'" in p for p in old) for key in RELEASE_ONLY_KEYS), old


def test_a_20_04_seed_has_no_release_only_keys_and_passes_every_schema() -> None:
    config = autoinstall(example_as("20.04", **_focal_files()), "gpu01")
    assert not set(RELEASE_ONLY_KEYS) & set(config) and "gateway4" in config["network"]["ethernets"]["lab0"]
    text = seeds.cloud_config({"autoinstall": config})
    assert [autoinstall_problems(text, name) for name in releases()] == [[], [], []]


def _focal_files() -> dict[str, str]:
    return {"kernel": "ubuntu-20.04.6/vmlinuz", "initrd": "ubuntu-20.04.6/initrd"}


def test_the_installer_choices_reach_the_seed_and_the_modules_follow_the_kernel_flavour() -> None:
    inv = example_as("24.04", source="minimal", kernel_flavor="hwe", updates="all", shutdown="poweroff")
    config = autoinstall(inv, "gpu02")
    assert config["source"]["id"] == "ubuntu-server-minimal"
    assert (config["kernel"], config["updates"], config["shutdown"]) == (
        {"flavor": "hwe"}, "all", "poweroff")
    env = seeds.provision_env(inv, inv.node_by_hostname("gpu02"))
    assert env["SEEDBED_NVIDIA_MODULES"] == "linux-modules-nvidia-535-server-generic-hwe-24.04"
    assert env["SEEDBED_UBUNTU_CODENAME"] == "noble"
    assert env["SEEDBED_DOCKER_VERSION"].endswith("~ubuntu.24.04~noble")


def test_a_misspelled_key_fails_the_24_04_check() -> None:
    config = autoinstall(example_as("24.04"), "gpu01")
    config["late_commands"] = config.pop("late-commands")
    problems = autoinstall_problems(seeds.cloud_config({"autoinstall": config}), "24.04")
    assert any("late_commands" in p for p in problems), problems


def mixed_inventory() -> Inventory:
    """The example with gpu03 on 24.04 and gpu04 on 22.04; the site stays on 20.04."""
    data = yaml.safe_load(default_inventory().read_text())
    data["nodes"][2]["release"] = 24.04  # unquoted in YAML: a float, read as the release
    data["nodes"][3]["release"] = "22.04"
    return parse_inventory(yaml.safe_dump(data)).inventory


def test_a_node_s_release_overrides_the_site_s_on_the_boot_line() -> None:
    inv = mixed_inventory()
    expected = {"gpu01": ("nocloud-net", "ubuntu-20.04.6", "ubuntu-20.04.6-live-server-amd64.iso"),
                "gpu03": ("nocloud", "ubuntu-24.04.4", "ubuntu-24.04.4-live-server-amd64.iso"),
                "gpu04": ("nocloud-net", "ubuntu-22.04.5", "ubuntu-22.04.5-live-server-amd64.iso")}
    for hostname, (datasource, folder, iso) in expected.items():
        node = inv.node_by_hostname(hostname)
        decision = boot.with_seed(inv, boot.Decision("install", "armed", node), 3, "TOKEN", node.macs[0])
        files = f"{inv.site.base_url}/files/{folder}"
        assert (decision.kernel, decision.initrd) == (f"{files}/vmlinuz", f"{files}/initrd")
        installer_args, _, _ = decision.cmdline.partition(" --- ")
        assert f"url={files}/{iso}" in installer_args.split()
        assert f"ds={datasource};s={inv.site.base_url}/seed/TOKEN/" in installer_args.split()
        ipxe = render.ipxe_script(decision)
        assert f" ds={datasource};s=" in ipxe
        grub = render.grub_config(decision, inv.site.base_url)
        assert f" 'ds={datasource};s=http://192.168.10.5:8080/seed/TOKEN/' " in grub
    assert seed_problems(inv) == []


def test_a_release_the_installers_do_not_have_is_refused_with_the_choices() -> None:
    data = yaml.safe_load(default_inventory().read_text())
    data["nodes"][0]["release"] = 23.04
    with pytest.raises(InventoryError, match=r"nodes\[0\]\.release: '23\.04' is not allowed"):
        parse_inventory(yaml.safe_dump(data))


def test_docker_pins_built_for_another_release_are_refused() -> None:
    data = yaml.safe_load(default_inventory().read_text())
    data["software"]["docker_version"] = "5:24.0.9-1~ubuntu.20.04~focal"
    parse_inventory(yaml.safe_dump(data))  # every node on 20.04: fine
    data["nodes"][1]["release"] = "24.04"
    with pytest.raises(InventoryError, match=r"software\.docker_version: .* gpu02's 24\.04 \(noble\)"):
        parse_inventory(yaml.safe_dump(data))


def test_validate_warns_where_a_node_s_memory_cannot_hold_the_netboot_iso(tmp_path: Path) -> None:
    data = yaml.safe_load(default_inventory().read_text())
    data["nodes"][0].update(release="24.04", memory_gib=4)
    data["nodes"][1].update(release="24.04", memory_gib=64)
    data["nodes"][2].update(memory_gib=4)  # 20.04: its smaller ISO fits
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(data))
    warnings = [str(w) for w in load_inventory(path).warnings if "memory_gib" in str(w)]
    need = release("24.04").netboot_ram_mib / 1024
    assert warnings == [f"warning: line {_line_of(path, 'memory_gib: 4')}: nodes[0].memory_gib: 4 GiB "
                        f"is less than the {need:.1f} GiB a 24.04 netboot install holds "
                        f"(ubuntu-24.04.4-live-server-amd64.iso in RAM, 3100 MiB, plus the installer)"]


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


@pytest.mark.parametrize("name", sorted(UPSTREAM))
def test_committed_schemas_are_the_derivation_of_the_installers_own(name: str) -> None:
    tarball = sources_dir() / UPSTREAM[name]
    if not tarball.is_file():
        pytest.skip(f"{tarball} missing (set SEEDBED_INSTALLER_SOURCES)")
    assert target(name).read_text() == render_schema(derive(name, upstream_schema(tarball))), (
        f"autoinstall/schema-{name}.json differs from {tarball.name}'s: run tests/release_schemas.py")


STEPS = ("header.sh", "05-release.sh")


@pytest.mark.parametrize("system, seeded, ok", [
    ("noble", "noble", True), ("jammy", "jammy", True), ("focal", "focal", True),
    ("jammy", "noble", False), ("bookworm", "bookworm", False),
])
def test_the_provisioning_steps_check_the_release_they_run_on(tmp_path: Path, system: str,
                                                             seeded: str, ok: bool) -> None:
    os_release = tmp_path / "os-release"
    os_release.write_text(f"ID=ubuntu\nVERSION_CODENAME={system}\n")
    steps = "".join(data_file("autoinstall", f"provision/{s}").read_text() for s in STEPS)
    check = 'ubuntu_release "Docker CE"; echo "suite $RELEASE_CODENAME"'
    proc = subprocess.run(["bash", "-c", steps + check],
                          env={"PATH": "/usr/bin:/bin", "SEEDBED_OS_RELEASE": str(os_release),
                               "SEEDBED_UBUNTU_CODENAME": seeded},
                          capture_output=True, text=True, timeout=30)
    assert (proc.returncode == 0) == ok, proc
    if ok:
        assert proc.stdout == f"suite {system}\n"
    else:
        assert "seedbed: " in proc.stderr and system in proc.stderr, proc.stderr


def test_a_seed_that_fails_its_release_s_check_is_not_served(make_service: Any,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    data = inventory_data()
    data["nodes"][0]["release"] = "24.04"
    service = make_service(data)
    client = create_app(service).test_client()
    script = client.get("/ipxe?mac=52:54:00:00:00:01").text
    assert " ds=nocloud;s=http://10.20.0.5:8080/seed/" in script
    token = seed_token(script)
    served = client.get(f"/seed/{token}/user-data")
    assert served.status_code == 200 and "shutdown: reboot" in served.text
    checked: list[str] = []

    def refuse(text: str, release_name: str) -> list[str]:
        checked.append(release_name)
        return ["autoinstall: 'late_commands' was unexpected"]

    monkeypatch.setattr("seedbed.seed_texts.autoinstall_problems", refuse)
    service.seed_texts.__init__()  # drop the checked renderings, as a reload does
    refused = client.get(f"/seed/{token}/user-data")
    assert refused.status_code == 409, refused.text
    assert "gpu01's user-data fails the 24.04 installer's checks" in refused.text
    assert checked == ["24.04"]


def test_validate_notes_each_release_s_netboot_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from seedbed.cli import main

    data = yaml.safe_load(default_inventory().read_text())
    data["nodes"][2]["release"] = "24.04"
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["validate", str(path)]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note: Ubuntu")]
    files = "http://192.168.10.5:8080/files/ubuntu-24.04.4"
    assert notes[0].startswith("note: Ubuntu 20.04 (gpu01, gpu02, gpu04): boots ubuntu-20.04.6/vmlinuz")
    assert notes[1] == (f"note: Ubuntu 24.04 (gpu03): boots ubuntu-24.04.4/vmlinuz and ubuntu-24.04.4/initrd "
                        f"(casper/ from the ISO) and fetches {files}/ubuntu-24.04.4-live-server-amd64.iso "
                        f"into RAM (~{release('24.04').netboot_ram_mib / 1024:.1f} GiB needed)")
    assert len(notes) == 2


@pytest.mark.parametrize("engine", ["rke", "rke2"])
@pytest.mark.parametrize("name", sorted(typing.get_args(ReleaseName)))
def test_every_release_with_every_engine_validates_and_renders(name: str, engine: str) -> None:
    data = yaml.safe_load(default_inventory().read_text())
    data["installer"] = {"release": name}
    data["software"].pop("docker_version", None)
    data["cluster"]["engine"] = engine
    inv = parse_inventory(yaml.safe_dump(data)).inventory
    assert seed_problems(inv) == []
    for node in inv.nodes:
        assert seeds.provision_env(inv, node)["SEEDBED_UBUNTU_CODENAME"] == release(name).codename
