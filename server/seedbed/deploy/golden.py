"""`make image`: build the golden image with Packer, after checks that fail fast.

    python -m seedbed.deploy.golden --inventory INV [--iso URL] ...           # Ubuntu 20.04 ISO
    python -m seedbed.deploy.golden --source debian --base-disk D --build-key K  # the test build

The Ubuntu build boots the live-server ISO with `autoinstall` and the seed below
(no host identity: a throwaway build user whose key is made for this build), then
Packer runs the provisioning steps over SSH (`seedbed render provision --image`),
the cleanup, and publishes qcow2 + raw.zst + sha256 (packer/scripts/publish.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from passlib.hash import sha512_crypt

from .. import seeds
from ..firstboot import ssh
from ..inventory import Inventory, load_inventory
from ..resources import data_dir, default_inventory

BUILD_USER = "seedbed-build"
BUILD_HOSTNAME = "seedbed-golden"
IMAGE_NAME = "seedbed-golden"
UBUNTU_ISO = "https://releases.ubuntu.com/20.04.6/ubuntu-20.04.6-live-server-amd64.iso"
UBUNTU_ISO_CHECKSUM = "sha256:b8f31413336b9393ad5d8ef0282717b2ab19f007df2e9ed5196c13d8f9153c8b"
OVMF = "/usr/share/ovmf/OVMF.fd"
# Keys of the rendered autoinstall seed that say nothing about a particular host.
HOST_INDEPENDENT = ("version", "locale", "keyboard", "refresh-installer", "timezone", "updates",
                    "kernel", "proxy", "apt", "packages", "snaps", "debconf-selections")


class PreflightError(RuntimeError):
    """`make image` cannot work here; the message says what to fix."""


# -- the build seed ------------------------------------------------------------


def image_autoinstall(inv: Inventory, build_key: str) -> dict[str, Any]:
    """The golden image's autoinstall: the site's node-independent settings, a throwaway build user."""
    rendered = seeds.autoinstall_config(inv, inv.nodes[0], seeds.SeedUrls(inv.site.base_url, "-"))
    config = {k: rendered[k] for k in HOST_INDEPENDENT if k in rendered}
    config["storage"] = {"layout": {"name": rendered["storage"]["layout"]["name"]}}
    # Nobody knows this password; the user (and its sudo rule) is deleted at the end of the build.
    config["identity"] = {"hostname": BUILD_HOSTNAME, "username": BUILD_USER,
                          "password": sha512_crypt.hash(secrets.token_urlsafe(24))}
    config["ssh"] = ssh.installer_ssh([build_key])
    sudoers = f"{BUILD_USER} ALL=(ALL) NOPASSWD:ALL"
    rule = "/etc/sudoers.d/90-seedbed-build"
    write_rule = f"printf '%s\\n' {shlex.quote(sudoers)} > {rule} && chmod 0440 {rule}"
    config["late-commands"] = [f"curtin in-target --target=/target -- sh -c {shlex.quote(write_rule)}"]
    return config


def image_user_data(inv: Inventory, build_key: str) -> str:
    return seeds.cloud_config({"autoinstall": image_autoinstall(inv, build_key)})


def image_meta_data() -> str:
    return seeds.to_yaml({"instance-id": f"{BUILD_HOSTNAME}-build",
                          "local-hostname": BUILD_HOSTNAME})


# -- preflight -------------------------------------------------------------------


def preflight(source: str, iso: str | None, accelerator: str) -> list[str]:
    """Problems that would make the build fail later, found in seconds."""
    problems = [f"{cmd} is not installed (apt-get install {pkg})"
                for cmd, pkg in (("packer", "packer"), ("qemu-system-x86_64", "qemu-system-x86"),
                                 ("qemu-img", "qemu-utils"), ("zstd", "zstd"),
                                 ("ssh-keygen", "openssh-client"))
                if shutil.which(cmd) is None]
    if not Path(OVMF).is_file():
        problems.append(f"{OVMF} is missing (apt-get install ovmf)")
    if shutil.which("qemu-system-x86_64"):
        problems.extend(_accelerator_problems(accelerator))
    if source == "ubuntu" and accelerator != "kvm":
        problems.append(
            f"the Ubuntu ISO build needs KVM, not {accelerator}: Packer types the autoinstall "
            "arguments into the ISO's GRUB menu, which waits only 5 s, and under TCG the "
            "firmware and GRUB reach it at no predictable time (the keys miss the menu and "
            "the ISO boots without autoinstall). Build on a host where KVM works (ACCEL=kvm)")
    if source == "ubuntu" and iso:
        problems.extend(_iso_problems(iso))
    return problems


def _accelerator_problems(accelerator: str) -> list[str]:
    if accelerator == "kvm" and not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return ["accelerator kvm: /dev/kvm is missing or not accessible (use ACCEL=tcg)"]
    cmd = ["qemu-system-x86_64", "-accel", accelerator, "-machine", "q35", "-nodefaults",
           "-display", "none", "-monitor", "stdio", "-S"]
    try:
        proc = subprocess.run(cmd, input="quit\n", capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return [f"QEMU with -accel {accelerator} did not start within 30s"]
    if proc.returncode != 0:
        return [f"QEMU cannot run with -accel {accelerator}: {proc.stderr.strip()[-300:]}"]
    return []


def _iso_problems(iso: str) -> list[str]:
    if not re.match(r"^https?://", iso):
        path = Path(iso.removeprefix("file://"))
        return [] if path.is_file() else [f"the ISO {iso} does not exist"]
    request = urllib.request.Request(iso, method="HEAD")  # noqa: S310 - http(s) only
    try:
        with urllib.request.urlopen(request, timeout=15):  # noqa: S310 - http(s) checked above
            return []
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return [f"the ISO {iso} cannot be reached ({reason}); download it and pass ISO=/path/to.iso"]


# -- the Packer run ---------------------------------------------------------------


@dataclass(frozen=True)
class BuildRequest:
    source: str  # "ubuntu" or "debian"
    inventory: Path
    work: Path
    iso: str = UBUNTU_ISO
    iso_checksum: str = UBUNTU_ISO_CHECKSUM
    base_disk: Path | None = None
    base_disk_checksum: str = "none"
    build_key: Path | None = None
    provision_env: tuple[str, ...] = ()
    accelerator: str = "tcg"
    zstd_level: int = 10
    memory: int = 4096
    timeout: float | None = None


@dataclass(frozen=True)
class GoldenImage:
    qcow2: Path
    raw_zst: Path
    sha256_file: Path
    seconds: float


def packer_version() -> tuple[int, ...]:
    out = subprocess.run(["packer", "version"], capture_output=True, text=True, timeout=30).stdout
    found = re.search(r"(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(x) for x in found.groups()) if found else (0,)


def template_dir(work: Path) -> Path:
    """packer/golden as is for Packer < 1.10; newer Packer also gets packer/plugins (and init)."""
    golden = data_dir("packer") / "golden"
    if packer_version() < (1, 10):
        return golden
    merged = work / "packer-src"
    shutil.rmtree(merged, ignore_errors=True)
    merged.mkdir(parents=True)
    for hcl in [*golden.glob("*.pkr.hcl"), *(data_dir("packer") / "plugins").glob("*.pkr.hcl")]:
        shutil.copyfile(hcl, merged / hcl.name)
    shutil.copytree(data_dir("packer") / "scripts", work / "scripts", dirs_exist_ok=True)
    subprocess.run(["packer", "init", str(merged)], check=True, timeout=600)
    return merged


def prepare(req: BuildRequest) -> list[str]:
    """Write the seed, the provisioning script and the build key; return packer's -var args."""
    inv = load_inventory(req.inventory).inventory
    req.work.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(req.work / "output", ignore_errors=True)  # packer refuses an existing one
    key = req.build_key
    if key is None:  # throwaway: only this build's VM ever trusts it
        key = req.work / "build_key"
        key.unlink(missing_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "seedbed-build",
                        "-f", str(key)], check=True, capture_output=True, timeout=60)
    public = Path(f"{key}.pub").read_text().strip()
    http = req.work / "http"
    http.mkdir(exist_ok=True)
    (http / "user-data").write_text(image_user_data(inv, public))
    (http / "meta-data").write_text(image_meta_data())
    (req.work / "provision.sh").write_text(seeds.provision_script(inv, None))
    variables = {
        "http_directory": http, "build_user": BUILD_USER, "build_key": key,
        "provision_script": req.work / "provision.sh", "output_directory": req.work / "output",
        "serial_log": req.work / "serial.log", "image_name": IMAGE_NAME,
        "accelerator": req.accelerator, "zstd_level": req.zstd_level, "memory": req.memory,
        "ovmf": OVMF, "iso_url": req.iso, "iso_checksum": req.iso_checksum,
        "base_disk": req.base_disk or "", "base_disk_checksum": req.base_disk_checksum,
    }
    args = [f"-var={name}={value}" for name, value in variables.items()]
    # A list variable: HCL syntax, values JSON-quoted.
    env_list = "[" + ",".join(_hcl_string(v) for v in req.provision_env) + "]"
    return [*args, f"-var=provision_env={env_list}"]


def _hcl_string(value: str) -> str:
    return json.dumps(value).replace("${", "$${").replace("%{", "%%{")


def build(req: BuildRequest) -> GoldenImage:
    problems = preflight(req.source, req.iso if req.source == "ubuntu" else None, req.accelerator)
    if req.source == "debian" and not (req.base_disk and req.base_disk.is_file() and req.build_key):
        problems.append("the debian build needs --base-disk FILE and --build-key FILE")
    if problems:
        raise PreflightError("make image cannot run here:\n  " + "\n  ".join(problems))
    args = prepare(req)
    started = time.monotonic()
    cmd = ["packer", "build", f"-only=qemu.{req.source}", *args, str(template_dir(req.work))]
    env = {**os.environ, "PACKER_NO_COLOR": "1", "CHECKPOINT_DISABLE": "1"}
    with open(req.work / "packer.log", "w") as log:
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=req.work,
                              timeout=req.timeout)
    if proc.returncode != 0:
        tail = "\n".join((req.work / "packer.log").read_text().splitlines()[-30:])
        raise RuntimeError(f"packer build failed (rc={proc.returncode}), see {req.work}/packer.log:\n{tail}")
    out = req.work / "output"
    return GoldenImage(out / f"{IMAGE_NAME}.qcow2", out / f"{IMAGE_NAME}.raw.zst",
                       out / f"{IMAGE_NAME}.raw.zst.sha256", round(time.monotonic() - started, 1))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m seedbed.deploy.golden", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--inventory", type=Path, default=default_inventory())
    p.add_argument("--source", choices=["ubuntu", "debian"], default="ubuntu")
    p.add_argument("--work", type=Path, default=Path("build/image"))
    p.add_argument("--iso", default=UBUNTU_ISO, help="Ubuntu 20.04 live-server ISO (URL or path)")
    p.add_argument("--iso-checksum", default=UBUNTU_ISO_CHECKSUM)
    p.add_argument("--base-disk", type=Path, help="debian: the base disk image")
    p.add_argument("--build-key", type=Path, help="debian: the base disk's build user key")
    p.add_argument("--provision-env", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--accelerator", default=os.environ.get("SEEDBED_QEMU_ACCEL", "tcg"))
    p.add_argument("--zstd-level", type=int, default=10)
    p.add_argument("--check-only", action="store_true", help="run the preflight checks and stop")
    a = p.parse_args(argv)
    if a.check_only:
        problems = preflight(a.source, a.iso, a.accelerator)
        for problem in problems:
            print(f"make image: {problem}", file=sys.stderr)
        return 2 if problems else 0
    checksum = "none"
    if a.base_disk:
        checksum = "sha256:" + subprocess.run(["sha256sum", str(a.base_disk)], capture_output=True,
                                              text=True, check=True).stdout.split()[0]
    req = BuildRequest(a.source, a.inventory, a.work.resolve(), a.iso, a.iso_checksum,
                       a.base_disk, checksum, a.build_key, tuple(a.provision_env), a.accelerator,
                       a.zstd_level)
    try:
        image = build(req)
    except PreflightError as exc:
        print(exc, file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"golden image built in {image.seconds:.0f}s:\n  {image.qcow2}\n  {image.raw_zst}\n"
          f"  {image.sha256_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
