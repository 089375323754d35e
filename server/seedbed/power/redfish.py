"""Redfish through the `sushy` client: ComputerSystem.Reset and a one-time PXE boot override.

The client logs in with HTTP basic auth on each request (no session is left behind on the
BMC); its own time-outs and server-side retries are bounded below. A BMC's certificate is
checked against the system's CAs, the node's `ca_file`, or (verify_tls: false) not at all;
a certificate refused is said as such and not retried: it needs the admin, not time.
"""

from __future__ import annotations

import logging
import os
import re

from .driver import Capabilities, PowerDriver, PowerError, PowerState

CONNECT_SECONDS, READ_SECONDS = 10, 30
# sushy logs at DEBUG the requests it makes; keep it quiet whatever the root level is.
logging.getLogger("sushy").setLevel(logging.WARNING)


class RedfishDriver(PowerDriver):
    name = "redfish"
    capabilities = Capabilities(on=True, off=True, cycle=True, status=True, pxe_once=True)

    def __init__(self, address: str, username: str, password: str, system: str | None = None,
                 verify_tls: bool | str = True):
        """`verify_tls`: True (the system's CAs), a CA file's path, or False (no check)."""
        self.address = address.rstrip("/")
        self.username, self._password = username, password
        self.system_path, self.verify_tls = system, verify_tls

    def describe(self) -> str:
        return f"redfish {self.address}{self.system_path or ''} as {self.username}"

    def on(self) -> str:
        return self._reset("On")

    def off(self) -> str:
        return self._reset("ForceOff")

    def cycle(self) -> str:
        # Reset on a system that is off is refused by many BMCs: turn it on instead.
        return self._reset("On" if self.status() == "off" else "ForceRestart")

    def status(self) -> PowerState:
        state = str(self._call(lambda system: system.power_state)).lower()
        return "on" if state.endswith("on") else "off" if state.endswith("off") else "unknown"

    def pxe_once(self) -> str:
        import sushy

        self._call(lambda system: system.set_system_boot_options(
            sushy.BOOT_SOURCE_TARGET_PXE, enabled=sushy.BOOT_SOURCE_ENABLED_ONCE))
        return "boot override Pxe, Once"

    def _reset(self, kind: str) -> str:
        import sushy

        value = {"On": sushy.RESET_ON, "ForceOff": sushy.RESET_FORCE_OFF,
                 "ForceRestart": sushy.RESET_FORCE_RESTART}[kind]
        self._call(lambda system: system.reset_system(value))
        return f"reset {kind}"

    def _call(self, action):  # noqa: ANN001, ANN202 - a callable on a sushy System
        import sushy
        from sushy import exceptions

        if isinstance(self.verify_tls, str) and not os.access(self.verify_tls, os.R_OK):
            raise PowerError(f"{self.describe()}: power.ca_file {self.verify_tls} cannot be read",
                             retry=False)
        try:
            root = sushy.Sushy(self.address + "/redfish/v1", username=self.username,
                               password=self._password, verify=self.verify_tls,
                               server_side_retries=1, server_side_retries_delay=1,
                               connect_timeout=CONNECT_SECONDS, read_timeout=READ_SECONDS)
            system = root.get_system(self.system_path)
            return action(system)
        except exceptions.AccessError as exc:
            refused = exc.status_code in (401, 403)
            why = "login refused (check the username and set-credentials)" if refused else \
                f"HTTP {exc.status_code}"
            raise PowerError(f"{self.describe()}: {why}", retry=not refused) from None
        except exceptions.ConnectionError as exc:
            refused = _tls_refusal(exc)
            if refused:
                raise PowerError(f"{self.describe()}: its TLS certificate was refused ({refused}): "
                                 "give its CA's (or its own) certificate as power.ca_file, or set "
                                 "power.verify_tls: false", retry=False) from None
            raise PowerError(f"{self.describe()}: no answer") from None
        except exceptions.SushyError as exc:
            raise PowerError(f"{self.describe()}: {_first_line(exc)}") from None


def _tls_refusal(exc: Exception) -> str | None:
    """Why TLS refused the BMC, when that is why the connection failed (sushy wraps requests'
    SSLError in its ConnectionError, raised while handling it); else None."""
    from requests.exceptions import SSLError

    cause = exc.__context__
    if not isinstance(cause, SSLError):
        return None
    found = re.search(r"\[SSL: [A-Z_]+\] ([^(]+?)\s*\(", str(cause))
    return found.group(1) if found else "TLS handshake failed"


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]
