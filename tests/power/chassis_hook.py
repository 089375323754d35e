#!/usr/bin/env python3
"""The 'hardware' behind the tests' ipmi_sim: its chassis_control program.

ipmi_sim runs `chassis_hook.py get power`, `... set power 1`, `... set boot pxe` and so on
(OpenIPMI lanserv's extcmd protocol: a get prints `name:value` lines). State lives in
$POWER_HOOK_DIR. With a guest.json there ({"pxe": argv, "disk": argv}), power on starts that
QEMU guest, from the network if a one-time boot device `pxe` was set (then forgotten, as
firmware does with a non-persistent boot flag), else with no network boot at all.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HOOK_DIR = Path(os.environ["POWER_HOOK_DIR"])
# This program exits at once, so the guest cannot die with the test run: it is bounded instead
# (and the test powers it off at teardown).
GUEST_MAX_SECONDS = 1200
PID, POWER, BOOT, LOG = (HOOK_DIR / n for n in ("guest.pid", "power", "bootdev", "hook.log"))
GUEST = HOOK_DIR / "guest.json"


def note(line: str) -> None:
    with open(LOG, "a") as f:
        f.write(f"{time.time():.3f} {line}\n")


def guest_pid() -> int | None:
    try:
        pid = int(PID.read_text())
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError):
        return None
    return None if state == "Z" else pid


def powered() -> bool:
    if GUEST.exists():
        return guest_pid() is not None
    return POWER.exists() and POWER.read_text().strip() == "1"


def power_on() -> None:
    if not GUEST.exists():
        POWER.write_text("1")
        return
    if guest_pid() is not None:
        return
    boot = BOOT.read_text().strip() if BOOT.exists() else "none"
    BOOT.unlink(missing_ok=True)  # a one-time boot device lasts one boot
    kind = "pxe" if boot == "pxe" else "disk"
    argv = ["timeout", "-s", "KILL", str(GUEST_MAX_SECONDS), *json.loads(GUEST.read_text())[kind]]
    with open(HOOK_DIR / "qemu.log", "ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                start_new_session=True, cwd=HOOK_DIR)
    PID.write_text(str(proc.pid))
    note(f"guest started, boot {kind}, pid {proc.pid}")


def power_off() -> None:
    POWER.write_text("0")
    pid = guest_pid()
    if pid is not None:
        os.killpg(pid, signal.SIGKILL)  # timeout and its QEMU: their own process group
        for _ in range(100):
            if guest_pid() is None:
                break
            time.sleep(0.05)
        note(f"guest pid {pid} powered off")


def main(args: list[str]) -> int:
    note(" ".join(args))
    op, names = args[0], args[1:]
    if op == "get":
        for name in names:
            if name == "power":
                print(f"power:{int(powered())}")
            elif name == "boot":
                print(f"boot:{BOOT.read_text().strip() if BOOT.exists() else 'none'}")
        return 0
    pairs = dict(zip(names[::2], names[1::2], strict=False))
    if "boot" in pairs:
        BOOT.write_text(pairs["boot"])
    if pairs.get("power") == "1":
        power_on()
    elif pairs.get("power") == "0":
        power_off()
    if pairs.get("reset") == "1":
        power_off()
        power_on()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
