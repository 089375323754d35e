"""End-to-end smoke test of the boot harness, without the seedbed service.

A stub HTTP server on the host plays the provisioning service: per-MAC iPXE
script, kernel/initrd, NoCloud seed and the phone_home callback. The guest
netboots the cached test image through QEMU's iPXE ROM and is checked from
outside (HTTP requests seen, then SSH with the seeded key).
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from .image import TestImage
from .qemu import HOST_IP, Guest, SshKey, make_ed25519_key

GUEST_USER = "debian"  # Debian cloud-init's default user


@dataclass
class Request:
    t: float  # monotonic time it arrived
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes


class StubServer:
    """Threaded HTTP server serving fixed routes and recording every request."""

    def __init__(self) -> None:
        self.routes: dict[str, bytes | Path] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        # Slirp delivers the guest's connections to 10.0.2.2 from the host's
        # loopback, so the stub need not listen on any external interface.
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://{HOST_IP}:{self.port}"

    def start(self) -> None:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def find(self, method: str, path: str) -> Request | None:
        with self._lock:
            return next((r for r in self.requests if r.method == method and r.path == path), None)

    def _record(self, req: Request) -> None:
        with self._lock:
            self.requests.append(req)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = self._log_request(b"")
                body = server.routes.get(url.path)
                if body is None:
                    self.send_error(404)
                    return
                data = body.read_bytes() if isinstance(body, Path) else body
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._log_request(self.rfile.read(length))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _log_request(self, body: bytes) -> urllib.parse.SplitResult:
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                server._record(Request(time.monotonic(), self.command, url.path, query, body))
                return url

            def log_message(self, *args: object) -> None:
                pass  # keep pytest -s output readable

        return Handler


@pytest.fixture
def stub_server() -> Iterator[StubServer]:
    server = StubServer()
    server.start()
    yield server
    server.stop()


def boot_script(base: str) -> str:
    # `initrd --name` + `initrd=` lets the kernel's EFI stub find the initrd
    # under Debian's 2019 iPXE; the BIOS path ignores it.
    return (
        "#!ipxe\n"
        f"kernel {base}/vmlinuz initrd=initrd.img root=/dev/vda rw console=ttyS0 "
        f"ds=nocloud-net;s={base}/seed/\n"
        f"initrd --name initrd.img {base}/initrd.img\n"
        "boot\n"
    )


def user_data(base: str, key: SshKey) -> str:
    return (
        "#cloud-config\n"
        "ssh_pwauth: false\n"
        "ssh_authorized_keys:\n"
        f"  - {key.public}\n"
        "phone_home:\n"
        f"  url: {base}/phone-home\n"
        "  post: [instance_id, hostname]\n"
        "  tries: 10\n"
    )


def serve_netboot(server: StubServer, image: TestImage, key: SshKey, hostname: str) -> None:
    base = server.base
    server.routes.update(
        {
            "/boot-script": boot_script(base).encode(),
            "/vmlinuz": image.kernel,
            "/initrd.img": image.initrd,
            "/seed/meta-data": f"instance-id: {hostname}-1\nlocal-hostname: {hostname}\n".encode(),
            "/seed/user-data": user_data(base, key).encode(),
            "/seed/vendor-data": b"",
        }
    )


def write_tftp(tmp_path: Path, base: str) -> Path:
    tftp = tmp_path / "tftp"
    tftp.mkdir()
    script = f"#!ipxe\ndhcp\nchain {base}/boot-script?mac=${{mac:hexhyp}}\n"
    (tftp / "boot.ipxe").write_text(script)
    return tftp


def _wait_request(
    g: Guest, server: StubServer, method: str, path: str, timeout: float, stage: str
) -> Request:
    return g.wait_until(lambda: server.find(method, path), timeout, stage)


# UEFI is booted against the real service in test_service_boot.py (the same chain to the
# ready report); one stub boot is enough to tell harness faults from service faults.
@pytest.mark.parametrize("firmware", ["bios"])
def test_netboot_to_ssh(
    firmware: str,
    test_image: TestImage,
    guest: Callable[..., Guest],
    stub_server: StubServer,
    tmp_path: Path,
    boot_timings: dict[str, dict[str, float]],
) -> None:
    mac = "52:54:00:5e:ed:01" if firmware == "bios" else "52:54:00:5e:ed:02"
    hostname = f"seedbed-{firmware}"
    key = make_ed25519_key(tmp_path / "ssh")
    serve_netboot(stub_server, test_image, key, hostname)
    g = guest(
        tftp_dir=write_tftp(tmp_path, stub_server.base), mac=mac, firmware=firmware, base_disk=test_image.disk
    )
    t: dict[str, float] = boot_timings.setdefault(f"netboot[{firmware}]", {})

    def mark(stage: str, req: Request | None = None) -> None:
        t[stage] = round((req.t if req else time.monotonic()) - g.started_at, 1)
        print(f"[{firmware}] {stage} at {t[stage]}s")

    script = _wait_request(g, stub_server, "GET", "/boot-script", 180, "no PXE request")
    mark("pxe_script", script)
    assert script.query.get("mac") == [mac.replace(":", "-")], script.query

    mark("kernel", _wait_request(g, stub_server, "GET", "/vmlinuz", 60, "no kernel fetch"))
    mark("initrd", _wait_request(g, stub_server, "GET", "/initrd.img", 60, "no initrd fetch"))
    mark("meta_data", _wait_request(g, stub_server, "GET", "/seed/meta-data", 240, "no seed fetch"))
    mark("user_data", _wait_request(g, stub_server, "GET", "/seed/user-data", 60, "no seed fetch"))

    home = _wait_request(g, stub_server, "POST", "/phone-home", 240, "no callback")
    mark("phone_home", home)
    form = urllib.parse.parse_qs(home.body.decode())
    assert form.get("hostname") == [hostname], form
    assert form.get("instance_id") == [f"{hostname}-1"], form

    g.wait_for_ssh(GUEST_USER, key.path, timeout=120, stage="SSH refused")
    mark("ssh")
    res = g.ssh("hostname", GUEST_USER, key.path, timeout=30)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == hostname
