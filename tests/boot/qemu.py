"""Run a QEMU guest that PXE-boots through QEMU's iPXE ROM, for boot tests.

Networking is slirp (`-netdev user`): the guest reaches the host at 10.0.2.2,
slirp's DHCP points iPXE at `boot.ipxe` in the given TFTP dir, and the guest's
SSH port is forwarded to 127.0.0.1:<ssh_port>. Every wait is bounded and the
QEMU process is killed on stop(), on context exit, at interpreter exit, and
(via PR_SET_PDEATHSIG) if the test process itself dies. PDEATHSIG follows the
starting *thread*, so start guests from the test's main thread.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from support import free_port

HOST_IP = "10.0.2.2"  # the host as seen from a slirp guest
QEMU = "qemu-system-x86_64"
# QEMU's default ROM for virtio-net-pci is ipxe-qemu's efi-virtio.rom, which
# holds both the BIOS and the EFI iPXE image. Keep that default: QEMU patches
# the PCI IDs only in default ROMs, and Debian's ROMs carry the modern virtio
# ID (1af4:1041), so an explicit romfile= on the transitional device (1af4:1000)
# is silently ignored by SeaBIOS and PXE never starts.
IPXE_ROM = Path("/usr/lib/ipxe/qemu/efi-virtio.rom")
OVMF = Path("/usr/share/ovmf/OVMF.fd")
# Secure Boot on, Microsoft's keys enrolled (package ovmf); shim writes SbatLevel into the
# variables, so each guest gets a fresh copy of them.
OVMF_SECURE_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.ms.fd")
OVMF_SECURE_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.ms.fd")
CMD_TIMEOUT = 60  # for short helper commands (qemu-img, ssh-keygen)

# Each guest has fresh host keys, and tests must never prompt.
SSH_OPTIONS = (
    "StrictHostKeyChecking=no",
    "UserKnownHostsFile=/dev/null",
    "BatchMode=yes",
    "IdentitiesOnly=yes",
    "LogLevel=ERROR",
)

Firmware = Literal["bios", "uefi", "uefi-secure"]
T = TypeVar("T")

_running: set[Guest] = set()


class BootStageError(AssertionError):
    """A boot did not reach `stage`; the message carries the console tail."""

    def __init__(self, stage: str, detail: str, console_tail: str = "") -> None:
        self.stage, self.detail, self.console_tail = stage, detail, console_tail
        msg = f"boot stage '{stage}' failed: {detail}"
        if console_tail:
            msg += f"\n----- serial console (tail) -----\n{console_tail}\n-----"
        super().__init__(msg)


@dataclass(frozen=True)
class SshKey:
    path: Path  # private key file
    public: str  # "ssh-ed25519 AAAA... comment"


def make_ed25519_key(directory: Path, name: str = "id_ed25519") -> SshKey:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "seedbed-test", "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=CMD_TIMEOUT,
    )
    return SshKey(path=path, public=path.with_suffix(".pub").read_text().strip())


def accel() -> str:
    # KVM crashes Linux guests on the CI hosts; TCG unless explicitly asked.
    return os.environ.get("SEEDBED_QEMU_ACCEL", "tcg")


def _die_with_parent() -> None:
    # Runs in the child before exec: SIGKILL qemu if pytest dies uncleanly.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Guest:
    """One QEMU VM. Use as a context manager, or call start()/stop()."""

    def __init__(
        self,
        workdir: Path,
        *,
        tftp_dir: Path,
        mac: str = "52:54:00:12:34:56",
        firmware: Firmware = "bios",
        base_disk: Path | None = None,
        blank_disk_size: str | None = None,
        memory_mb: int = 1024,
        cpus: int = 1,
        ssh_port: int | None = None,
        bootfile: str = "boot.ipxe",
        no_reboot: bool = False,
        extra_args: list[str] | None = None,
        romfile: Path | Literal[""] | None = None,
        disk_serial: str | None = None,
        leading_nics: tuple[str, ...] = (),
        netdev_options: tuple[str, ...] = (),
    ) -> None:
        if base_disk and blank_disk_size:
            raise ValueError("give base_disk or blank_disk_size, not both")
        if firmware not in ("bios", "uefi", "uefi-secure"):
            raise ValueError(f"firmware must be 'bios', 'uefi' or 'uefi-secure', not {firmware!r}")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.tftp_dir, self.mac, self.firmware = Path(tftp_dir), mac.lower(), firmware
        self.base_disk, self.blank_disk_size = base_disk, blank_disk_size
        self.memory_mb, self.cpus, self.bootfile = memory_mb, cpus, bootfile
        self.ssh_port = ssh_port or free_port()
        self.no_reboot, self.extra_args = no_reboot, list(extra_args or [])
        self.romfile = romfile  # None: QEMU's default iPXE ROM (see IPXE_ROM); "": no ROM
        # MACs of NICs ahead of the booting one in PCI order (no boot ROM, own slirp network):
        # the booting NIC is then not the first NIC the firmware and iPXE see.
        self.leading_nics = leading_nics
        self.netdev_options = netdev_options  # extra slirp options, e.g. guestfwd=...
        self.disk_serial = disk_serial  # the virtio disk's serial (lsblk SERIAL), for disk selectors
        self.console_log = self.workdir / "console.log"
        self.qemu_log = self.workdir / "qemu.log"
        self.disk: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at: float | None = None

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> Guest:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if self.proc:
            raise RuntimeError("guest already started")
        self.disk = self._prepare_disk()
        self.console_log.write_bytes(b"")
        cmd = self.command()
        (self.workdir / "qemu.cmd").write_text(" ".join(cmd) + "\n")
        with open(self.qemu_log, "wb") as out:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
                cwd=self.workdir,
            )
        self.started_at = time.monotonic()
        _running.add(self)

    def stop(self) -> None:
        """Kill QEMU (no graceful shutdown needed: the disk is a throwaway overlay)."""
        proc, self.proc = self.proc, None
        _running.discard(self)
        if proc is None or proc.poll() is not None:
            return
        proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)  # if it is stuck in D state there is nothing more to do

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def elapsed(self) -> float:
        """Seconds since power-on."""
        return 0.0 if self.started_at is None else time.monotonic() - self.started_at

    # -- command line --------------------------------------------------------

    def command(self) -> list[str]:
        return [
            QEMU,
            "-name",
            "seedbed-test",
            "-accel",
            accel(),
            "-m",
            str(self.memory_mb),
            "-smp",
            str(self.cpus),
            # -nographic also makes SeaBIOS mirror its and iPXE's text output
            # to ttyS0, so PXE failures show up in the console log.
            "-nographic",
            "-monitor",
            "none",
            "-serial",
            f"file:{self.console_log}",
            *self._firmware_args(),
            *self._net_args(),
            *self._disk_args(),
            *(["-no-reboot"] if self.no_reboot else []),
            *self.extra_args,
        ]

    def _firmware_args(self) -> list[str]:
        if self.firmware == "uefi-secure":
            variables = self.workdir / "OVMF_VARS.fd"
            shutil.copyfile(OVMF_SECURE_VARS, variables)
            return ["-machine", "q35,smm=on", "-global", "driver=cfi.pflash01,property=secure,value=on",
                    "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_SECURE_CODE}",
                    "-drive", f"if=pflash,format=raw,unit=1,file={variables}"]
        return ["-bios", str(OVMF)] if self.firmware == "uefi" else []

    def _net_args(self) -> list[str]:
        netdev = (
            f"user,id=n0,tftp={self.tftp_dir},bootfile={self.bootfile},"
            f"hostfwd=tcp:127.0.0.1:{self.ssh_port}-:22"
        ) + "".join(f",{option}" for option in self.netdev_options)
        leading: list[str] = []
        for i, mac in enumerate(self.leading_nics, 1):
            leading += ["-netdev", f"user,id=l{i}",
                        "-device", f"virtio-net-pci,netdev=l{i},mac={mac},romfile="]
        # bootindex (not -boot n) is what OVMF honours; SeaBIOS does too.
        nic = f"virtio-net-pci,netdev=n0,mac={self.mac},bootindex=1"
        if self.romfile is not None:
            nic += f",romfile={self.romfile}"
        return [*leading, "-netdev", netdev, "-device", nic]

    def _disk_args(self) -> list[str]:
        if self.disk is None:
            return []
        return [
            "-drive",
            f"file={self.disk},format=qcow2,if=none,id=d0,cache=unsafe",
            "-device",
            "virtio-blk-pci,drive=d0,bootindex=2"
            + (f",serial={self.disk_serial}" if self.disk_serial else ""),
        ]

    def _prepare_disk(self) -> Path | None:
        # A per-test qcow2 overlay keeps the cached raw image pristine.
        disk = self.workdir / "disk.qcow2"
        if self.base_disk:
            args = ["-b", str(Path(self.base_disk).resolve()), "-F", "raw", str(disk)]
        elif self.blank_disk_size:
            args = [str(disk), self.blank_disk_size]
        else:
            return None
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", *args],
            check=True,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=CMD_TIMEOUT,
        )
        return disk

    # -- console -------------------------------------------------------------

    def console_text(self) -> str:
        try:
            return self.console_log.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def console_tail(self, n: int = 60) -> str:
        # Strip ANSI escapes and CRs that firmware/iPXE write, for readable reports.
        text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1bc|\r", "", self.console_text())
        return "\n".join(text.splitlines()[-n:])

    def fail(self, stage: str, detail: str) -> BootStageError:
        """Build a BootStageError for `stage` with the console tail (and qemu's stderr)."""
        if self.proc is not None and self.proc.poll() is not None:
            detail += f" (qemu exited rc={self.proc.returncode}: {self._qemu_output()})"
        detail += f" [t={self.elapsed():.0f}s; full console: {self.console_log}]"
        return BootStageError(stage, detail, self.console_tail())

    def _qemu_output(self) -> str:
        try:
            return self.qemu_log.read_text(errors="replace").strip()[-2000:]
        except FileNotFoundError:
            return ""

    def wait_until(self, check: Callable[[], T], timeout: float, stage: str, interval: float = 0.5) -> T:
        """Poll `check` until it returns something truthy; fail fast if QEMU dies."""
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            if not self.alive:
                raise self.fail(stage, "guest is not running")
            if time.monotonic() > deadline:
                raise self.fail(stage, f"not reached within {timeout:.0f}s")
            time.sleep(interval)

    def wait_for_console(self, pattern: str, timeout: float, stage: str) -> re.Match[str]:
        regex = re.compile(pattern)
        return self.wait_until(lambda: regex.search(self.console_text()), timeout, stage)

    # -- ssh -----------------------------------------------------------------

    def ssh_command(self, cmd: str, user: str, key: Path, connect_timeout: int = 10) -> list[str]:
        opts = [*SSH_OPTIONS, f"ConnectTimeout={connect_timeout}"]
        port_key = ["-p", str(self.ssh_port), "-i", str(key)]
        return ["ssh", *port_key, *(a for o in opts for a in ("-o", o)), f"{user}@127.0.0.1", cmd]

    def ssh(self, cmd: str, user: str, key: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run `cmd` in the guest; raises subprocess.TimeoutExpired after `timeout`."""
        return subprocess.run(
            self.ssh_command(cmd, user, key),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def wait_for_ssh(
        self, user: str, key: Path, timeout: float = 180, stage: str = "ssh"
    ) -> subprocess.CompletedProcess[str]:
        """Retry until `ssh true` succeeds. Slirp accepts the TCP connection before
        sshd is up, so each attempt is bounded separately."""
        last = "no attempt made"

        def attempt() -> subprocess.CompletedProcess[str] | None:
            nonlocal last
            try:
                res = self.ssh("true", user, key, timeout=20)
            except subprocess.TimeoutExpired:
                last = "ssh attempt timed out"
                return None
            last = f"rc={res.returncode} {res.stderr.strip()}"
            return res if res.returncode == 0 else None

        try:
            return self.wait_until(attempt, timeout, stage, interval=2)
        except BootStageError as e:
            raise BootStageError(stage, f"{e.detail}; last ssh: {last}", e.console_tail) from None


@atexit.register
def _kill_leftovers() -> None:
    for guest in list(_running):
        guest.stop()
