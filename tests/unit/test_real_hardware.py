"""What real machines need beyond QEMU's defaults: the booting NIC named to the installer,
installer-only kernel arguments, optional secondary NICs, an ISO URL casper can netboot,
GRUB's port 80, pinned vendor packages and signed NVIDIA modules, firmware notes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests

from seedbed import seeds
from seedbed.cli import main
from seedbed.inventory import InventoryError, parse_inventory
from support import ServeProcess, inventory_data, inventory_of, write_inventory

URLS = seeds.SeedUrls("http://10.20.0.5:8080", "t" * 43)
SECOND_MAC = "52:54:00:00:00:0b"


def two_nic_inventory(**installer: str) -> dict:
    data = inventory_data()
    data["nodes"][0]["macs"] = ["52:54:00:00:00:01", SECOND_MAC]
    data["installer"].update(installer)
    return data


@pytest.fixture
def two_nic_client(make_service):  # noqa: ANN001, ANN201
    from seedbed.web import create_app

    return create_app(make_service(two_nic_inventory(cmdline="console=ttyS0,115200"))).test_client()


def kernel_args(script: str) -> list[str]:
    line = next(line for line in script.splitlines() if line.startswith("kernel "))
    return line.split()[2:]  # after `kernel URL`


def test_the_installer_is_told_which_nic_booted(two_nic_client) -> None:  # noqa: ANN001
    args = kernel_args(two_nic_client.get(f"/ipxe?mac={SECOND_MAC}").text)
    assert "BOOTIF=01-52-54-00-00-00-0b" in args


def test_installer_arguments_go_before_the_carry_over_separator(two_nic_client) -> None:  # noqa: ANN001
    args = kernel_args(two_nic_client.get(f"/ipxe?mac={SECOND_MAC}").text)
    assert args.count("---") == 1
    installer_only, carried = args[:args.index("---")], args[args.index("---") + 1:]
    assert carried == ["console=ttyS0,115200"]  # the admin's cmdline: kept by curtin
    for word in ("autoinstall", "ip=dhcp", "cloud-config-url=/dev/null"):
        assert word in installer_only
    assert any(w.startswith("ds=nocloud-net;s=") for w in installer_only)
    assert any(w.startswith("url=") for w in installer_only)
    assert any(w.startswith("BOOTIF=") for w in installer_only)


def test_grub_gets_the_same_line_with_port_80_paths(two_nic_client) -> None:  # noqa: ANN001
    text = two_nic_client.get(f"/grub?mac={SECOND_MAC}").text
    linux = next(line.split() for line in text.splitlines() if line.strip().startswith("linux "))
    assert linux[1] == "(http,10.20.0.5)/files/ubuntu/vmlinuz"  # GRUB < 2.12 ignores ports
    assert linux[-2:] == ["---", "console=ttyS0,115200"]
    assert "BOOTIF=01-52-54-00-00-00-0b" in linux


def test_secondary_nics_without_an_address_are_optional() -> None:
    inv = inventory_of(two_nic_inventory())
    ethernets = seeds.autoinstall_config(inv, inv.nodes[0], URLS)["network"]["ethernets"]
    assert "optional" not in ethernets["lab0"]  # the addressed NIC is waited for
    assert ethernets["lab1"]["optional"] is True and ethernets["lab1"]["dhcp4"] is False


@pytest.mark.parametrize("iso,message", [
    ("https://nas.lab.test/focal.iso", "plain http:// only"),
    ("http://nas.lab.test/focal", "ends in .iso"),
    ("http://nas.lab.test/focal.iso?x=1.iso2", "ends in .iso"),
])
def test_validate_refuses_an_iso_url_casper_cannot_netboot(tmp_path: Path, iso: str, message: str,
                                                           capsys: pytest.CaptureFixture) -> None:
    path = write_inventory(tmp_path / "lab.yaml", two_nic_inventory(iso=iso))
    with pytest.raises(InventoryError) as info:
        parse_inventory(path.read_text())
    problem = next(p for p in info.value.problems if p.path == "installer.iso")
    assert message in problem.message and problem.line == yaml_line(path, "  iso:")
    assert main(["validate", str(path)]) == 1
    assert "installer.iso" in capsys.readouterr().err


def yaml_line(path: Path, prefix: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if line.startswith(prefix))


def test_validate_says_what_the_firmware_needs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = two_nic_inventory(kernel="http://mirror.lab.test:8000/vmlinuz")
    assert main(["validate", str(write_inventory(tmp_path / "lab.yaml", data))]) == 0
    out = capsys.readouterr().out
    assert "Secure Boot must be off" in out
    assert "--grub-port 80" in out  # base_url is on 8080
    assert "installer.kernel: http://mirror.lab.test:8000/vmlinuz is on port 8000" in out
    data["site"]["base_url"] = "http://10.20.0.5"
    data["installer"]["kernel"] = "ubuntu/vmlinuz"
    assert main(["validate", str(write_inventory(tmp_path / "lab.yaml", data))]) == 0
    out = capsys.readouterr().out
    assert "--grub-port" not in out and "Secure Boot must be off" in out


def test_serve_answers_grub_on_its_second_port(tmp_path: Path) -> None:
    from support import free_port

    grub_port = free_port()
    path = write_inventory(tmp_path / "lab.yaml", inventory_data())
    with ServeProcess(path, tmp_path / "state", extra_args=["--grub-port", str(grub_port)]) as serve:
        for base in (serve.url, f"http://127.0.0.1:{grub_port}"):
            response = requests.get(f"{base}/grub?mac=52:54:00:00:00:01", timeout=10)
            assert response.status_code == 200 and "linux (http,10.20.0.5)/" in response.text


VENDOR_PACKAGES = {  # package -> the provisioning setting that pins it
    "docker-ce": "SEEDBED_DOCKER_VERSION", "docker-ce-cli": "SEEDBED_DOCKER_VERSION",
    "containerd.io": "SEEDBED_CONTAINERD_VERSION", "docker-buildx-plugin": "SEEDBED_BUILDX_VERSION",
    "nvidia-container-toolkit": "v", "nvidia-container-toolkit-base": "v",
    "libnvidia-container-tools": "v", "libnvidia-container1": "v",
}


def shell_commands(script: str, verb: str) -> list[str]:
    """Every `verb ...` command in the script, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", script)
    return [line.strip() for line in joined.splitlines() if line.strip().startswith(verb)]


def test_every_vendor_package_is_pinned_and_held() -> None:
    inv = inventory_of(inventory_data())
    script = seeds.provision_script(inv, None)
    installs = " ".join(shell_commands(script, "apt-get install"))
    holds = " ".join(shell_commands(script, "apt-mark hold")).split()
    for package, setting in VENDOR_PACKAGES.items():
        assert re.search(rf'"{re.escape(package)}=\$\{{?{setting}\}}?"', installs), f"{package} unpinned"
        assert package in holds, f"{package} not held"
    env = seeds.provision_env(inv, None)
    assert env["SEEDBED_CONTAINERD_VERSION"] == inv.software.containerd_version
    assert env["SEEDBED_BUILDX_VERSION"] == inv.software.buildx_version


def test_the_nvidia_driver_comes_with_signed_prebuilt_modules_first() -> None:
    inv = inventory_of(inventory_data())
    env = seeds.provision_env(inv, None)
    assert env["SEEDBED_NVIDIA_MODULES"] == "linux-modules-nvidia-535-server-generic"
    assert env["SEEDBED_NVIDIA_DRIVER"] == "nvidia-driver-535-server"
    installs = shell_commands(seeds.provision_script(inv, None), "apt-get install")
    modules = next(i for i, c in enumerate(installs) if "$SEEDBED_NVIDIA_MODULES" in c)
    driver = next(i for i, c in enumerate(installs) if "$SEEDBED_NVIDIA_DRIVER" in c)
    assert modules < driver  # the modules satisfy the driver: apt pulls no nvidia-dkms
    assert "dkms" not in " ".join(installs)
    gpu_less = inv.node_by_hostname("gpu02")
    assert seeds.provision_env(inv, gpu_less)["SEEDBED_NVIDIA_MODULES"] == ""


def test_a_driver_without_signed_modules_is_refused() -> None:
    with pytest.raises(InventoryError) as info:
        inventory_of(inventory_data(software={"nvidia_driver": "nvidia-driver-535"}))
    assert any(p.path == "software.nvidia_driver" and "signed prebuilt" in p.message
               for p in info.value.problems)
