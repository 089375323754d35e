"""The Packer templates and the golden image's build seed, without building anything.

Parsed with python-hcl2 (pinned in pyproject) and checked for the invariants the
image depends on; `packer validate` runs for real with Debian's packer.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from seedbed import seeds
from seedbed.deploy import golden
from seedbed.inventory import load_inventory

REPO = Path(__file__).resolve().parents[2]
PACKER = REPO / "packer"
LAB = REPO / "examples" / "lab.yaml"


def parse(path: Path) -> dict[str, Any]:
    with path.open() as f:
        return hcl2.load(f)


def blocks(kind: str) -> list[dict[str, Any]]:
    found = []
    for path in sorted((PACKER / "golden").glob("*.pkr.hcl")):
        found.extend(parse(path).get(kind, []))
    return found


def source(name: str) -> dict[str, Any]:
    for block in blocks("source"):
        if name in block.get("qemu", {}):
            return block["qemu"][name]
    raise AssertionError(f"no source qemu.{name} in packer/golden")


def variable_default(name: str) -> Any:
    for block in blocks("variable"):
        if name in block:
            return block[name].get("default")
    raise AssertionError(f"no variable {name}")


def hcl_text(raw: str) -> str:
    """python-hcl2 keeps string escapes as written; Packer sees them decoded."""
    return re.sub(r'\\(["\\])', r"\1", raw)


def minutes(duration: str) -> float:
    found = re.fullmatch(r"(\d+)([smh])", duration)
    assert found, duration
    return int(found.group(1)) * {"s": 1 / 60, "m": 1, "h": 60}[found.group(2)]


def test_ubuntu_source_boots_the_iso_into_autoinstall_with_the_served_seed() -> None:
    ubuntu = source("ubuntu")
    typed = hcl_text("".join(ubuntu["boot_command"]))
    # The entry's line ends in `---`: deleted, then typed again after the installer's own.
    assert "<end><bs><bs><bs> autoinstall ds=nocloud-net\\;s=http://{{ .HTTPIP }}:{{ .HTTPPort }}/ ---<f10>" \
        in typed
    assert typed.index("e<wait>") < typed.index("autoinstall") < typed.index("<f10>")
    assert ubuntu["http_directory"] == "${var.http_directory}"
    assert ubuntu["iso_url"] == "${var.iso_url}"
    assert variable_default("iso_url").endswith("ubuntu-20.04.6-live-server-amd64.iso")
    assert variable_default("iso_checksum").startswith("sha256:")


@pytest.mark.parametrize("name", ["ubuntu", "debian"])
def test_sources_wait_long_for_ssh_and_write_qcow2_under_uefi(name: str) -> None:
    src = source(name)
    assert src["ssh_timeout"] == "${var.ssh_timeout}"
    assert minutes(variable_default("ssh_timeout")) >= 120  # the install and its update pass
    assert src["ssh_handshake_attempts"] >= 100
    assert src["format"] == "qcow2"
    assert src["vm_name"] == "${var.image_name}.qcow2"
    assert src["ssh_private_key_file"] == "${var.build_key}"  # the throwaway key, no password
    assert src["qemuargs"] == "${local.qemuargs}"
    qemuargs = next(b for b in blocks("locals") if "qemuargs" in b)["qemuargs"]
    assert ["-bios", "${var.ovmf}"] in qemuargs
    assert "userdel --force --remove" in src["shutdown_command"] or \
        src["shutdown_command"] == "${local.shutdown_command}"


def test_the_shutdown_removes_the_build_user_and_its_sudo_rule() -> None:
    command = hcl_text(next(b for b in blocks("locals") if "shutdown_command" in b)["shutdown_command"])
    assert "userdel --force --remove" in command and "$SUDO_USER" in command
    assert "rm -f /etc/sudoers.d/90-seedbed-build" in command
    assert command.index("userdel") < command.index("shutdown -P now")


def test_debian_source_starts_from_the_base_disk() -> None:
    debian = source("debian")
    assert debian["disk_image"] is True
    assert debian["iso_url"] == "${var.base_disk}"
    assert debian["skip_resize_disk"] is True  # the GPT's backup header stays at the end


def test_build_provisions_with_the_shared_steps_then_cleans_up_and_publishes() -> None:
    (build,) = blocks("build")
    assert sorted(build["sources"]) == ["source.qemu.debian", "source.qemu.ubuntu"]
    steps = [p["shell"] for p in build["provisioner"]]
    assert steps[0]["script"] == "${var.provision_script}"
    assert steps[0]["environment_vars"] == "${var.provision_env}"
    assert steps[-1]["script"] == "${path.root}/../scripts/cleanup.sh"
    (publish,) = [p["shell-local"] for p in build["post-processor"]]
    assert publish["script"] == "${path.root}/../scripts/publish.sh"
    script = (PACKER / "scripts" / "publish.sh").read_text()
    assert "qemu-img convert -O raw" in script and '"$raw.zst"' in script
    assert 'sha256sum "$IMAGE_NAME.raw.zst" > "$IMAGE_NAME.raw.zst.sha256"' in script


def test_cleanup_gives_every_clone_its_own_identity() -> None:
    script = (PACKER / "scripts" / "cleanup.sh").read_text()
    for step in ("cloud-init clean --logs --seed", "truncate -s 0 /etc/machine-id",
                 "rm -f /etc/ssh/ssh_host_*", "/etc/netplan/00-installer-config.yaml",
                 "/etc/cloud/cloud.cfg.d/99-installer.cfg"):
        assert step in script, step
    assert script.startswith("#!/bin/sh\n") and "set -eu" in script


GRUB_DEFAULTS_BUILT = (
    'GRUB_DEFAULT=0\n'
    'GRUB_CMDLINE_LINUX_DEFAULT="autoinstall ds=nocloud-net;s=http://10.0.2.2:8123/ quiet splash"\n'
    'GRUB_CMDLINE_LINUX="console=ttyS0 autoinstall"\n'
)


def test_cleanup_strips_the_build_arguments_from_grub_defaults(tmp_path: Path) -> None:
    script = (PACKER / "scripts" / "cleanup.sh").read_text()
    block = script[script.index("# >>> grub-defaults"):script.index("# <<< grub-defaults")]
    defaults = tmp_path / "grub"
    defaults.write_text(GRUB_DEFAULTS_BUILT)
    subprocess.run(["sh", "-euc", block], env={"GRUB_DEFAULTS": str(defaults), "PATH": "/usr/bin:/bin"},
                   check=True, timeout=30)
    assert defaults.read_text() == ('GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet splash"\n'
                                    'GRUB_CMDLINE_LINUX="console=ttyS0"\n')


def test_the_ubuntu_build_refuses_tcg_up_front() -> None:
    problems = golden.preflight("ubuntu", None, "tcg")
    assert any("needs KVM" in p and "5 s" in p for p in problems), problems
    assert not any("needs KVM" in p for p in golden.preflight("debian", None, "tcg"))


def test_required_plugins_only_in_the_file_newer_packer_gets() -> None:
    plugins = parse(PACKER / "plugins" / "required-plugins.pkr.hcl")
    qemu = plugins["packer"][0]["required_plugins"][0]["qemu"]
    assert qemu["source"] == "github.com/hashicorp/qemu"
    for path in (PACKER / "golden").glob("*.pkr.hcl"):
        assert "packer" not in parse(path), f"{path.name}: Packer 1.6.6 rejects a packer block"


def test_packer_validate_accepts_the_templates(tmp_path: Path) -> None:
    if shutil.which("packer") is None:
        pytest.fail("packer is not installed (apt-get install packer)", pytrace=False)
    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True,
                   timeout=30)
    (tmp_path / "provision.sh").write_text(seeds.provision_script(load_inventory(LAB).inventory,
                                                                  None))
    (tmp_path / "base.raw").write_bytes(b"")
    args = [f"-var=build_key={key}", f"-var=provision_script={tmp_path / 'provision.sh'}",
            f"-var=base_disk={tmp_path / 'base.raw'}", f"-var=http_directory={tmp_path}"]
    proc = subprocess.run(["packer", "validate", *args, str(PACKER / "golden")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    broken = subprocess.run(["packer", "validate", *args[1:], str(PACKER / "golden")],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert broken.returncode != 0 and "ssh_private_key_file" in broken.stdout + broken.stderr


def test_build_seed_has_no_host_identity_and_trusts_only_the_build_key() -> None:
    inv = load_inventory(LAB).inventory
    build_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP8eEe5LQ8St7QZllw3qBckmpRjIYgDcQyQIIjJp4RHk build"
    text = golden.image_user_data(inv, build_key)
    assert text.startswith("#cloud-config\n")
    auto = yaml.safe_load(text)["autoinstall"]
    assert auto["version"] == 1
    assert auto["identity"]["username"] == golden.BUILD_USER
    assert auto["identity"]["hostname"] == golden.BUILD_HOSTNAME
    assert auto["identity"]["password"].startswith("$6$")
    assert auto["ssh"] == {"install-server": True, "authorized-keys": [build_key], "allow-pw": False}
    assert auto["storage"] == {"layout": {"name": "direct"}}  # the build VM's only disk
    for absent in ("network", "reporting", "user-data", "error-commands"):
        assert absent not in auto, absent
    for node in inv.nodes:  # nothing of any host: names, addresses, MACs
        for value in (node.hostname, str(node.ip), *node.macs):
            assert value not in text, value
    assert inv.admin.ssh_keys[0] not in text and inv.site.base_url not in text
    assert "/etc/sudoers.d/90-seedbed-build" in auto["late-commands"][0]
    assert yaml.safe_load(golden.image_meta_data())["instance-id"] == "seedbed-golden-build"


def test_build_prepares_the_same_provisioning_steps_as_the_installs(tmp_path: Path) -> None:
    request = golden.BuildRequest(source="debian", inventory=LAB, work=tmp_path)
    args = golden.prepare(request)
    inv = load_inventory(LAB).inventory
    script = (tmp_path / "provision.sh").read_text()
    assert script == seeds.provision_script(inv, None)
    for step in sorted((REPO / "autoinstall" / "provision").glob("[0-9]*.sh")):
        assert step.read_text() in script, step.name  # the late-commands' steps, verbatim
    assert (tmp_path / "http" / "user-data").read_text().startswith("#cloud-config\n")
    public = (tmp_path / "build_key.pub").read_text().strip()
    assert public in (tmp_path / "http" / "user-data").read_text()
    assert f"-var=provision_script={tmp_path / 'provision.sh'}" in args
    assert "-var=provision_env=[]" in args


def test_provision_env_is_passed_as_an_hcl_list_of_quoted_strings(tmp_path: Path) -> None:
    request = golden.BuildRequest(source="debian", inventory=LAB, work=tmp_path,
                                  provision_env=("SEEDBED_VENDOR_REPOS=no", 'A="${x}"'))
    args = golden.prepare(request)
    assert '-var=provision_env=["SEEDBED_VENDOR_REPOS=no","A=\\"$${x}\\""]' in args


def test_vendor_repo_switch_skips_docker_and_nvidia_and_says_so(tmp_path: Path) -> None:
    inv = load_inventory(LAB).inventory
    script = seeds.provision_script(inv, None)
    # Run only the header and the two vendor steps with apt/curl stubbed: nothing may be fetched.
    stub = tmp_path / "bin"
    stub.mkdir()
    for cmd in ("apt-get", "curl", "apt-mark", "install", "gpg"):
        (stub / cmd).write_text(f"#!/bin/sh\necho CALLED {cmd} \"$@\" >> {tmp_path}/calls\n")
        (stub / cmd).chmod(0o755)
    steps = script.split("\n# --- ")
    vendor = [s for s in steps if s.startswith(("10-docker.sh", "20-nvidia.sh"))]
    assert len(vendor) == 2
    text = steps[0] + "".join("\n# --- " + s for s in vendor)
    proc = subprocess.run(["bash", "-c", text], env={"PATH": f"{stub}:/usr/bin:/bin",
                                                       "SEEDBED_VENDOR_REPOS": "no"},
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "calls").exists(), (tmp_path / "calls").read_text()
    assert "NOT installing Docker CE" in proc.stderr
    assert "NOT installing the NVIDIA driver and toolkit" in proc.stderr
    # Unset (every real build): the steps run.
    proc = subprocess.run(["bash", "-c", steps[0] + "vendor_repos Docker && echo ALLOWED"],
                          env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=30)
    assert proc.stdout.strip() == "ALLOWED", proc.stderr
