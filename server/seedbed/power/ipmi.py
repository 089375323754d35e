"""IPMI 2.0 over LAN (lanplus) through Debian's `ipmitool`.

The password goes to ipmitool in its environment (IPMI_PASSWORD with -E), never on its
command line, where any local user could read it in /proc. Each call is bounded: one
retransmission budget (-R/-N) and a hard time-out on the process.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from .driver import Capabilities, PowerDriver, PowerError, PowerState

TIMEOUT_SECONDS = 30
RETRIES, RETRY_SECONDS = 2, 2  # ipmitool's own: -R tries, -N seconds between them
# ipmitool's words for a refused login (not worth retrying: BMCs lock accounts out)
REFUSED = ("unauthorized name", "invalid authentication", "insufficient privilege",
           "rakp 2 hmac is invalid", "rakp 2 message indicates an error")


class IpmiDriver(PowerDriver):
    name = "ipmi"
    capabilities = Capabilities(on=True, off=True, cycle=True, status=True, pxe_once=True)

    def __init__(self, address: str, username: str, password: str,
                 cipher_suite: int | None = None, tool: str = "ipmitool"):
        host, _, port = address.rpartition(":") if address.count(":") == 1 else (address, "", "")
        self.host, self.port = host.strip("[]"), port or "623"
        self.username, self._password = username, password
        self.cipher_suite, self.tool = cipher_suite, tool

    def describe(self) -> str:
        return f"ipmi {self.host}:{self.port} as {self.username}"

    def on(self) -> str:
        return self._chassis("power", "on")

    def off(self) -> str:
        return self._chassis("power", "off")

    def cycle(self) -> str:
        # A chassis that is off ignores (or refuses) a cycle: power it on instead.
        if self.status() == "off":
            return self.on()
        return self._chassis("power", "cycle")

    def status(self) -> PowerState:
        out = self._chassis("power", "status").lower()
        return "on" if out.endswith(" on") else "off" if out.endswith(" off") else "unknown"

    def pxe_once(self) -> str:
        # Without options=persistent the boot flags are valid for the next boot only.
        return self._chassis("bootdev", "pxe")

    def _chassis(self, *args: str) -> str:
        if shutil.which(self.tool) is None:
            raise PowerError(f"{self.tool} is not installed (apt-get install ipmitool)", retry=False)
        # -v: only then does ipmitool say why a session failed (a refused login or no answer)
        argv = [self.tool, "-v", "-I", "lanplus", "-H", self.host, "-p", self.port,
                "-U", self.username, "-E", "-R", str(RETRIES), "-N", str(RETRY_SECONDS)]
        if self.cipher_suite is not None:
            argv += ["-C", str(self.cipher_suite)]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "IPMI_PASSWORD": self._password}
        try:
            done = subprocess.run([*argv, "chassis", *args], env=env, capture_output=True,
                                  text=True, timeout=TIMEOUT_SECONDS, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise PowerError(f"{self.describe()}: no answer in {TIMEOUT_SECONDS}s") from None
        said = [line for line in (done.stdout + "\n" + done.stderr).splitlines()
                if line.strip() and not line.startswith("Loading IANA")]
        output = " ".join(" ".join(said).split())[-500:]
        if done.returncode != 0:
            refused = any(word in output.lower() for word in REFUSED)
            why = "login refused (check the username and set-credentials)" if refused else output
            raise PowerError(f"{self.describe()}: chassis {' '.join(args)} failed: {why}",
                             retry=not refused)
        return " ".join(done.stdout.split())
