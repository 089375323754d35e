"""Preflight's network checks against real hosts in a test-made network namespace.

The namespace holds the lab's addresses (tests/cluster/conftest.py): the site DNS server
10.20.0.1 is a real dnsmasq, the nodes 10.20.0.21-23 are real sshd processes (the Docker
socket a strict fake), the NAS 10.20.0.5 a strict fake NFS server (fake_nfs.py says why).
`seedbed cluster preflight` runs inside the namespace: no packet leaves it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lan.netns import TestLan

from .conftest import NODES, SEEDBED, lab_inventory, wait_for

HERE = Path(__file__).parent
LAB = "10.20.0"
DNS, NAS = f"{LAB}.1", f"{LAB}.5"
RANCHER = "ranch.lab.test"
ADMIN_UID = 4242  # labadmin inside the sshd's own mount namespace
NEEDS = ("ip", "dnsmasq", "sshd", "ssh")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # the fakes' PATH lacks sbin


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    missing = [c for c in NEEDS if not shutil.which(c, path=SYSTEM_PATH)]
    if missing:
        pytest.fail(f"the preflight site test needs {missing} (apt-get install iproute2 "
                    "dnsmasq-base openssh-server openssh-client)", pytrace=False)
    if os.geteuid() != 0:
        pytest.fail("the preflight site test creates a network namespace: run as root",
                    pytrace=False)
    with TestLan(LAB) as lan:  # br0 holds the NAS address, 10.20.0.5
        for host in (1, 21, 22, 23, 24):
            lan.ns(lan.server, "ip", "addr", "add", f"{LAB}.{host}/24", "dev", "br0")
        made = Site(lan, tmp_path / "site")
        try:
            yield made
        finally:
            lan.close()  # sshd first, then its files
            for folder in made.cleanup:
                shutil.rmtree(folder, ignore_errors=True)


class Site:
    def __init__(self, lan: TestLan, folder: Path):
        self.lan, self.folder = lan, folder
        self.cleanup: list[Path] = []
        folder.mkdir()

    def _start(self, name: str, argv: list[str], ready: str) -> Path:
        log = self.folder / f"{name}.log"
        proc = self.lan.spawn(self.lan.server, argv, log)

        def up() -> bool:
            if proc.poll() is not None:
                pytest.fail(f"{name} exited: {log.read_text()}", pytrace=False)
            return ready in log.read_text()
        wait_for(f"{name} to start", up, timeout=15)
        return log

    def dns(self, address: str | None) -> None:
        """dnsmasq as the site DNS: authoritative for lab.test, `address` for Rancher's name."""
        argv = [str(shutil.which("dnsmasq", path=SYSTEM_PATH)), "--keep-in-foreground",
                "--log-facility=-", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                "--bind-interfaces", f"--listen-address={DNS}", "--local=/lab.test/",
                "--pid-file=", "--log-queries"]
        if address:
            argv.append(f"--address=/{RANCHER}/{address}")
        self.dns_log = self._start("dnsmasq", argv, "started")

    def nfs(self, max_minor: str) -> Path:
        log = self.folder / "nfs-calls.jsonl"
        self._start("nfs", [sys.executable, str(HERE / "fake_nfs.py"), NAS,
                            max_minor, str(log)], "listening")
        return log

    def sshd(self, name: str, addresses: list[str], authorized: Path, refuse: list[str],
             docker: bool, etc_overlay: Path | None = None) -> Path:
        """A real sshd for these node addresses; its /run (Docker socket) and /etc/passwd
        (a labadmin user) are its own, mounted in its private mount namespace, and so is
        `etc_overlay` (files laid over /etc, e.g. a node's /etc/rancher/rke2/rke2.yaml)."""
        folder = self.folder / name
        folder.mkdir()
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / "hostkey")],
                       check=True, timeout=30)
        passwd = folder / "passwd"
        passwd.write_text(Path("/etc/passwd").read_text()
                          + f"labadmin:*:{ADMIN_UID}:{ADMIN_UID}:seedbed test:/nonexistent:/bin/sh\n")
        # sshd reads authorized keys as the user: outside pytest's private (0700) folders.
        readable = Path(tempfile.mkdtemp(prefix="seedbed-sshd-"))
        self.cleanup.append(readable)
        readable.chmod(0o755)
        shutil.copy(authorized, readable / "authorized_keys")
        (readable / "authorized_keys").chmod(0o644)
        config = [f"ListenAddress {a}" for a in addresses] + [
            f"HostKey {folder / 'hostkey'}", "PidFile none",
            f"AuthorizedKeysFile {readable / 'authorized_keys'}",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no",
            "StrictModes no", "AllowStreamLocalForwarding yes", "AllowTcpForwarding yes"]
        for address in refuse:
            config += [f"Match LocalAddress {address}", "    AuthorizedKeysFile none"]
        (folder / "sshd_config").write_text("\n".join(config) + "\n")
        docker_log = folder / "docker.log"
        start_docker = (f"{sys.executable} {HERE / 'fake_docker.py'} /run/docker.sock "
                        f"{docker_log} {ADMIN_UID} & " if docker else "")
        overlay = ""
        if etc_overlay is not None:
            work = Path(tempfile.mkdtemp(prefix="seedbed-overlay-"))
            self.cleanup.append(work)
            overlay = (f"mount -t overlay overlay -o lowerdir=/etc,upperdir={etc_overlay},"
                       f"workdir={work} /etc; ")
        script = ("set -e; mount -t tmpfs tmpfs /run; mkdir -m 755 /run/sshd; "
                  f"{overlay}mount --bind {passwd} /etc/passwd; {start_docker}"
                  f"exec {shutil.which('sshd', path=SYSTEM_PATH)} -D -e -f {folder / 'sshd_config'}")
        self._start(f"sshd-{name}", ["sh", "-c", script], "Server listening")
        return docker_log

    def preflight(self, inventory: Path, state: Path) -> tuple[int, list[str]]:
        done = self.lan.ns(self.lan.server, str(SEEDBED), "cluster", "preflight", "--inventory",
                           str(inventory), "--state", str(state), check=False, timeout=180)
        assert "Traceback" not in done.stderr, done.stderr
        return done.returncode, done.stdout.splitlines()


def _line(lines: list[str], start: str) -> str:
    found = [ln for ln in lines if ln.startswith(start)]
    assert len(found) == 1, f"one line starting {start!r} expected in:\n" + "\n".join(lines)
    return found[0]


@pytest.fixture
def lab(in_process, monkeypatch):  # noqa: ANN001, ANN201
    monkeypatch.setenv("SEEDBED_CLUSTER_PREFLIGHT_SKIP", "")  # every check, inside the namespace
    made = in_process(lab_inventory(), auto=False)
    settings = made.service.settings
    return made, settings.inventory_path, settings.state_dir


def test_a_reachable_site_passes_and_each_node_problem_has_its_line(site, lab) -> None:  # noqa: ANN001
    made, inventory, state = lab
    for node in NODES:
        made.ready(node)
    site.dns(NODES[0]["ip"])
    nfs_calls = site.nfs("1")
    public = state / "ssh" / "id_ed25519.pub"
    docker_log = site.sshd("good", [f"{LAB}.21", f"{LAB}.22"], public, refuse=[f"{LAB}.22"],
                           docker=True)
    site.sshd("no-docker", [f"{LAB}.23"], public, refuse=[], docker=False)
    # gpu04 (10.20.0.24) runs no sshd at all.

    code, lines = site.preflight(inventory, state)
    assert code == 1
    assert _line(lines, "ok   dns: ") == f"ok   dns: {DNS} resolves {RANCHER} to 10.20.0.21 (node gpu01)"
    assert _line(lines, "ok   nfs: ") == f"ok   nfs: {NAS}:2049 speaks NFSv4.1"
    assert [c["minor"] for c in _jsonl(nfs_calls)] == [1]
    assert _line(lines, "skip nfs mount: ").startswith(f"skip nfs mount: {NAS}:/volume1/k8s not mounted")
    assert _line(lines, "ok   ssh gpu01: ") == ("ok   ssh gpu01: labadmin@10.20.0.21 with the service "
                                              "key; Docker answers at /var/run/docker.sock")
    assert docker_log.read_text().splitlines() == ["GET /_ping HTTP/1.0"]
    fix = f" -- fix: the node must have {state / 'ssh' / 'id_ed25519'}.pub in ~labadmin/.ssh/"
    assert _line(lines, "FAIL ssh cpu02: ").startswith(
        "FAIL ssh cpu02: labadmin@10.20.0.22: ssh failed: labadmin@10.20.0.22: Permission denied "
        "(publickey)." + fix)
    assert _line(lines, "FAIL ssh cpu03: ").startswith(
        "FAIL ssh cpu03: labadmin@10.20.0.23: the tunnel to the Docker socket closed without an "
        "answer")
    assert _line(lines, "FAIL ssh gpu04: ").startswith(
        "FAIL ssh gpu04: labadmin@10.20.0.24: ssh failed: ssh: connect to host 10.20.0.24 port 22: "
        "Connection refused")
    assert lines[-1] == "preflight: 16 checks, 12 ok, 3 failed, 1 skipped"


@pytest.mark.parametrize(("dns", "nfs", "dns_verdict", "nfs_verdict"), [
    (None, "0",
     f"FAIL dns: {DNS} has no address for {RANCHER} (NXDOMAIN) -- fix: add an A record {RANCHER} "
     "-> a worker node's address or one of 10.20.0.240-10.20.0.250 on the site's DNS server",
     f"FAIL nfs: {NAS}:2049: the server does not speak NFSv4.1 (the provisioner mounts with "
     "nfsvers=4.1) -- fix: on the NAS, turn NFS on with NFSv4.1 allowed"),
    ("10.9.9.9", "v3",
     f"FAIL dns: {DNS} resolves {RANCHER} to 10.9.9.9: not a node or load-balancer address",
     f"FAIL nfs: {NAS}:2049: the server speaks NFS versions 2 to 3 only, not 4"),
    ("10.20.0.245", None,
     f"ok   dns: {DNS} resolves {RANCHER} to 10.20.0.245 (load balancer)",
     f"FAIL nfs: {NAS}:2049 does not answer NFS (Connection refused) -- fix: on the NAS"),
    ("silent", None,
     f"FAIL dns: {DNS} did not answer for {RANCHER} (timed out) -- fix: check site.dns",
     f"FAIL nfs: {NAS}:2049 does not answer NFS (Connection refused)"),
], ids=["nxdomain-nfs4.0", "stray-nfs3", "pool-no-nfs", "no-dns-no-nfs"])
def test_site_failures_show_their_verdict(site, lab, dns: str | None, nfs: str | None,
                                          dns_verdict: str, nfs_verdict: str) -> None:  # noqa: ANN001
    _, inventory, state = lab
    if dns != "silent":
        site.dns(dns)
    if nfs is not None:
        site.nfs(nfs)
    code, lines = site.preflight(inventory, state)
    assert code == (0 if dns_verdict.startswith("ok") and nfs_verdict.startswith("ok") else 1)
    assert _line(lines, dns_verdict[:10]).startswith(dns_verdict)
    assert _line(lines, "FAIL nfs: ").startswith(nfs_verdict)
    if dns != "silent":
        assert f"query[A] {RANCHER} from " in site.dns_log.read_text()


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]
