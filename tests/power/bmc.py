"""Real BMC simulators on loopback for the power tests.

- IpmiSim: OpenIPMI's ipmi_sim (Debian `openipmi`) with a LAN channel on 127.0.0.1 and
  chassis_hook.py as its chassis control program (the 'hardware' it powers);
- RedfishEmulator: sushy-tools' emulator app with its fake driver (no libvirt), served by
  werkzeug in a thread, the requests it got kept so a test can read what seedbed sent.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from support import free_port

HERE = Path(__file__).parent
START_TIMEOUT = 20


class IpmiSim:
    """ipmi_sim with one admin user; `hook_dir` holds the chassis state (see chassis_hook)."""

    def __init__(self, root: Path, username: str, password: str):
        if shutil.which("ipmi_sim") is None or shutil.which("ipmitool") is None:
            pytest.fail("the IPMI tests need ipmi_sim and ipmitool: "
                        "apt-get install openipmi ipmitool", pytrace=False)
        self.root, self.port = root, free_port()
        self.hook_dir = root / "chassis"
        self.hook_dir.mkdir(parents=True, exist_ok=True)
        self.address = f"127.0.0.1:{self.port}"
        hook = f"{sys.executable} {HERE / 'chassis_hook.py'}"
        (root / "lan.conf").write_text(f"""name "seedbed-test"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 {self.port}
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "{hook}"
  user 2 true "{username}" "{password}" admin 10 none md2 md5 straight
""")
        (root / "emu.cmd").write_text(
            "mc_setbmc 0x20\n"
            "mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\n"
            "mc_enable 0x20\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> IpmiSim:
        env = {**os.environ, "POWER_HOOK_DIR": str(self.hook_dir)}
        with open(self.root / "ipmi_sim.log", "wb") as out:
            self.proc = subprocess.Popen(
                ["ipmi_sim", "-n", "-c", str(self.root / "lan.conf"), "-f",
                 str(self.root / "emu.cmd"), "-s", str(self.root / "state")],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + START_TIMEOUT
        while not self._listening():
            assert self.proc.poll() is None, f"ipmi_sim exited: {self.log()}"
            assert time.monotonic() < deadline, "ipmi_sim did not listen in time"
            time.sleep(0.1)
        return self

    def _listening(self) -> bool:
        out = subprocess.run(["ss", "-Huln", f"sport = :{self.port}"], capture_output=True,
                             text=True, timeout=10).stdout
        return str(self.port) in out

    def log(self) -> str:
        path = self.root / "ipmi_sim.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def hook_log(self) -> str:
        path = self.hook_dir / "hook.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        pid_file = self.hook_dir / "guest.pid"
        if pid_file.exists():  # a guest the chassis started outlives ipmi_sim: power it off
            subprocess.run([sys.executable, str(HERE / "chassis_hook.py"), "set", "power", "0"],
                           env={**os.environ, "POWER_HOOK_DIR": str(self.hook_dir)}, timeout=20)


class RedfishEmulator:
    """sushy-tools' emulator (fake driver) on 127.0.0.1 with HTTP basic auth; over HTTPS
    when given `tls` (certificate file, key file), as real BMCs answer."""

    def __init__(self, root: Path, username: str, password: str,
                 tls: tuple[Path, Path] | None = None):
        from sushy_tools.emulator import main as emulator

        root.mkdir(parents=True, exist_ok=True)
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
        (root / "htpasswd").write_text(f"{username}:{hashed}\n")
        self.app = emulator.app
        self.app.configure(extra_config={
            "SUSHY_EMULATOR_FAKE_DRIVER": True,
            "SUSHY_EMULATOR_AUTH_FILE": str(root / "htpasswd"),
            "SUSHY_EMULATOR_STATE_DIR": str(root / "state"),
        })
        self.requests: list[dict[str, Any]] = []
        self.port = free_port()
        self.tls = tls
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self._server = None

    def _recording(self, environ: dict[str, Any], start_response: Any) -> Any:
        body = b""
        if environ["REQUEST_METHOD"] in ("POST", "PATCH"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            import io

            environ["wsgi.input"] = io.BytesIO(body)
        self.requests.append({"method": environ["REQUEST_METHOD"], "path": environ["PATH_INFO"],
                              "authorization": environ.get("HTTP_AUTHORIZATION", ""),
                              "body": json.loads(body) if body else None})
        return self.app(environ, start_response)

    def start(self) -> RedfishEmulator:
        from werkzeug.serving import make_server

        self._fresh_systems()
        context = tuple(map(str, self.tls)) if self.tls else None
        self._server = make_server("127.0.0.1", self.port, self._recording, threaded=True,
                                   ssl_context=context)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()

    def _fresh_systems(self) -> None:
        """sushy-tools' app, and its fake systems, are one per process: each emulator starts
        from the configured systems (off, no boot override), never from an earlier test's."""
        with self.app.test_request_context():
            systems = self.app.systems
            for initial in self.app.config["SUSHY_EMULATOR_FAKE_SYSTEMS"]:
                systems._systems[initial["uuid"]] = copy.deepcopy(initial)

    def system(self) -> dict[str, Any]:
        """The fake system as the emulator reports it now (its pending power change applied
        once due, as the fake driver does on each read)."""
        with self.app.test_request_context():
            systems = self.app.systems
            identity = systems.systems[0]
            return {"power_state": systems.get_power_state(identity),
                    "boot_device": systems.get_boot_device(identity)}
