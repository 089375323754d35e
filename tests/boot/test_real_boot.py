"""Boots shaped like real workstations: a second NIC that boots, and GRUB 2.06 netboot.

- Two NICs, booting from the second, whose MAC alone is in the inventory: the chain
  script names the NIC that booted (`${netX/mac}`), the service knows the machine by
  it, the kernel line says so (`BOOTIF=`), and the first NIC is never asked about.
- Debian 12's GRUB (2.06, from grub-efi-amd64-bin via `grub-mknetdir`) under OVMF's own
  PXE: it fetches `/grub` and the test kernel over HTTP. Upstream GRUB before 2.12
  always connects to port 80, so the service runs with `--grub-port` and the guest's
  port 80 goes there: slirp forwards only addresses other than its host alias, so the
  lab's address is a guestfwd address (port 80 -> the GRUB port, the service port ->
  itself), as on a LAN where seedbed listens on both ports. Debian's build parses
  ports too (a backported patch), so the test counts GRUB's connections to port 80.
- Under QEMU's iPXE ROM only the booting NIC is open, and there an unscoped `${mac}`
  is that NIC's too: the two-NIC boot proves the install path, while the chain
  script's `${netX/mac}` is pinned by the unit tests.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import free_port

from .image import TestImage
from .lab import PROFILE, Lab
from .qemu import Guest, SshKey, make_ed25519_key
from .test_service_boot import boot_to_ready

TWO_NIC_HOST, FIRST_MAC, BOOT_MAC = "twonic-test", "52:54:00:5e:ed:21", "52:54:00:5e:ed:22"
GRUB_HOST, GRUB_MAC = "grub-test", "52:54:00:5e:ed:23"
GUESTFWD_IP = "10.0.2.100"  # the lab's address as the GRUB guest sees it
GRUB_MODULES = Path("/usr/lib/grub/x86_64-efi")
GRUB_BOOTFILE = "boot/grub/x86_64-efi/core.efi"

NODES = [
    {"hostname": TWO_NIC_HOST, "macs": [BOOT_MAC], "ip": "10.0.2.31", "roles": ["worker"],
     "profile": PROFILE},
    {"hostname": GRUB_HOST, "macs": [GRUB_MAC], "ip": "10.0.2.32",
     "roles": ["controlplane", "etcd", "worker"], "profile": PROFILE},
]


@pytest.fixture(scope="module")
def admin_key(tmp_path_factory: pytest.TempPathFactory) -> SshKey:
    return make_ed25519_key(tmp_path_factory.mktemp("ssh"))


def started_lab(root: Path, image: TestImage, key: SshKey, **options: object) -> Lab:
    return Lab(root, image, key.public, NODES, **options).start()  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def lab(test_image: TestImage, admin_key: SshKey,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    service = started_lab(tmp_path_factory.mktemp("lab"), test_image, admin_key)
    yield service
    service.stop()


def test_two_nics_booting_from_the_second_installs(lab: Lab, test_image: TestImage, tmp_path: Path,
                                                   boot_timings: dict[str, dict[str, float]]) -> None:
    with Guest(tmp_path / "guest", tftp_dir=lab.tftp, mac=BOOT_MAC, leading_nics=(FIRST_MAC,),
               base_disk=test_image.disk) as g:
        booted = boot_to_ready(lab, g, TWO_NIC_HOST, BOOT_MAC)
        kernel_line = whole_kernel_line(g)
    boot_timings["real_boot[two_nics]"] = booted.stages
    assert f"BOOTIF=01-{BOOT_MAC.replace(':', '-')}" in kernel_line.split()
    assert FIRST_MAC not in [d["mac"] for d in lab.discovered()], "the first NIC asked for a script"
    assert booted.ready["kind"] in ("ready", "unhealthy")


def whole_kernel_line(g: Guest) -> str:
    """The kernel's own log of its command line, to its end (the seed URL is not last)."""
    found = re.search(r"Command line: ([^\r\n]*)", g.console_text())
    assert found, "the kernel logged no command line"
    return found.group(1)


# -- GRUB 2.06 ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def grub_tftp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not shutil.which("grub-mknetdir") or not GRUB_MODULES.is_dir():
        pytest.fail("the GRUB netboot test needs grub-efi-amd64-bin (grub-mknetdir, "
                    f"{GRUB_MODULES}): apt-get install grub-efi-amd64-bin", pytrace=False)
    if not shutil.which("socat"):
        pytest.fail("the GRUB netboot test relays port 80 with socat: apt-get install socat",
                    pytrace=False)
    root = tmp_path_factory.mktemp("grub-tftp")
    subprocess.run(["grub-mknetdir", f"--net-directory={root}", "--subdir=boot/grub",
                    f"--directory={GRUB_MODULES}"], check=True, capture_output=True, timeout=60,
                   stdin=subprocess.DEVNULL)
    return root


def grub_version() -> str:
    done = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "grub-efi-amd64-bin"],
                          capture_output=True, text=True, timeout=30)
    return done.stdout.strip()


def test_grub_2_06_netboot_reaches_ready(test_image: TestImage, admin_key: SshKey, grub_tftp: Path,
                                         tmp_path: Path,
                                         boot_timings: dict[str, dict[str, float]]) -> None:
    assert grub_version().startswith("2.06"), f"expected Debian 12's GRUB 2.06, not {grub_version()}"
    grub_port = free_port()
    lab = started_lab(tmp_path / "lab", test_image, admin_key, host_ip=GUESTFWD_IP,
                      extra_args=("--grub-port", str(grub_port)))
    try:
        # The admin's static part, on TFTP: GRUB asks seedbed (port 80) for this machine's config.
        (grub_tftp / "boot" / "grub" / "grub.cfg").write_text(
            "insmod http\n"
            f'configfile "(http,{GUESTFWD_IP})/grub?mac=${{net_default_mac}}"\n')
        # Each connection to port 80 runs one socat, which logs to port80.log (appending).
        port80 = tmp_path / "port80.log"
        relay = "cmd:socat {}- TCP:127.0.0.1:{}"
        forwards = (f"guestfwd=tcp:{GUESTFWD_IP}:80-{relay.format(f'-d -d -lf {port80} ', grub_port)}",
                    f"guestfwd=tcp:{GUESTFWD_IP}:{lab.port}-{relay.format('', lab.port)}")
        started = time.monotonic()
        with Guest(tmp_path / "guest", tftp_dir=grub_tftp, mac=GRUB_MAC, firmware="uefi",
                   romfile="", bootfile=GRUB_BOOTFILE, netdev_options=forwards,
                   base_disk=test_image.disk) as g:
            booted = boot_to_ready(lab, g, GRUB_HOST, GRUB_MAC)
            kernel_line = whole_kernel_line(g)
        boot_timings["real_boot[grub_2.06]"] = {**booted.stages,
                                                "total": round(time.monotonic() - started, 1)}
        assert lab.requested("GET", "/grub", 200), lab.log_tail()
        # Debian's 2.06 build also follows (http,host:port) (a backported patch), so what
        # proves the config serves upstream 2.06 is that GRUB fetched all three files,
        # /grub, kernel and initrd, on port 80.
        log = port80.read_text() if port80.exists() else ""
        grub_connections = log.count("reading from and writing to stdio")
        assert grub_connections >= 3, f"GRUB opened {grub_connections} connection(s) to port 80"
        assert f"BOOTIF=01-{GRUB_MAC.replace(':', '-')}" in kernel_line.split()
        assert booted.ready["kind"] in ("ready", "unhealthy")
    finally:
        lab.stop()
