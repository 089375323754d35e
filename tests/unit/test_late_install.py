"""An install whose late-commands run long after its boot: the seed's lifetime and the
last report. Real installs run late-commands after the whole install and its update
pass, often past `seed_ttl_minutes` (60 in the test inventory)."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from seedbed import seeds
from support import inventory_data, inventory_of, seed_token

MAC1 = "52-54-00-00-00-01"
PAST_TTL = 61 * 60


def start_install(client) -> str:  # noqa: ANN001
    """PXE boot and fetch the seed, as the installer does at its start; returns the token."""
    token = seed_token(client.get(f"/ipxe?mac={MAC1}").text)
    assert client.get(f"/seed/{token}/user-data").status_code == 200
    return token


def test_late_commands_past_the_seed_ttl_complete_the_install(client, service, clock) -> None:  # noqa: ANN001
    token = start_install(client)
    late = yaml.safe_load(client.get(f"/seed/{token}/user-data").text[len("#cloud-config\n"):])
    assert any("/provision.sh" in c for c in late["autoinstall"]["late-commands"])
    clock.advance(PAST_TTL)
    # The seed itself has closed; what the late-commands fetch has not.
    assert client.get(f"/seed/{token}/user-data").status_code == 403
    script = client.get(f"/seed/{token}/provision.sh")
    assert script.status_code == 200, script.text
    assert script.text.startswith("#!/bin/bash")
    assert client.post(f"/api/v1/callback/{token}/installed").status_code == 200
    assert service.store.node("gpu01").state == "installed"
    # Done: nothing more is served for it.
    assert client.get(f"/seed/{token}/provision.sh").status_code == 403


def test_an_install_that_never_started_gets_nothing_past_the_ttl(client, clock) -> None:  # noqa: ANN001
    token = seed_token(client.get(f"/ipxe?mac={MAC1}").text)
    clock.advance(PAST_TTL)
    assert client.get(f"/seed/{token}/provision.sh").status_code == 403


def test_a_superseded_install_gets_no_late_files(client, clock) -> None:  # noqa: ANN001
    token = start_install(client)
    start_install(client)  # the machine rebooted into a new install
    clock.advance(PAST_TTL)
    assert client.get(f"/seed/{token}/provision.sh").status_code == 403


class _Refusing(BaseHTTPRequestHandler):
    """Answers every POST 403, as seedbed does for a token it no longer accepts."""

    posts: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        type(self).posts.append(self.path)
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def refusing_server() -> Iterator[str]:
    _Refusing.posts = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_lost_installed_report_does_not_fail_the_install(refusing_server: str) -> None:
    """The installer runs each late-command with `sh -c` and treats a non-zero exit as a
    failed install (then its error-commands post `failed`): the last one must not fail."""
    inv = inventory_of(inventory_data())
    urls = seeds.SeedUrls(refusing_server, "t" * 43)
    config = seeds.autoinstall_config(inv, inv.nodes[0], urls)
    last = config["late-commands"][-1]
    assert "/installed" in last
    done = subprocess.run(["sh", "-c", last], capture_output=True, text=True, timeout=60)
    assert _Refusing.posts == [f"/api/v1/callback/{'t' * 43}/installed"]
    assert done.returncode == 0, f"the installed post failed the late-commands: {done.stderr}"
    assert "did not arrive" in done.stderr
