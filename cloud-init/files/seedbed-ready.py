#!/usr/bin/env python3
"""Collect this machine's first-boot facts and post them to seedbed's ready callback.

Runs last in cloud-init's final stage. Standard library only (Python 3.8+):
it must run on a fresh Ubuntu 20.04 install and on the golden image alike.
"""
import json
import os
import platform
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request

CONFIG = "/etc/seedbed/ready.json"


def run(*argv, timeout=30):
    """stdout of a command, or None when it is missing or fails."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              timeout=timeout, check=False, universal_newlines=True)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def gpus():
    out = run("nvidia-smi", "--query-gpu=name,driver_version,memory.total",
              "--format=csv,noheader,nounits")
    found = []
    for line in (out or "").splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3:
            memory = int(parts[2]) if parts[2].isdigit() else None
            found.append({"name": parts[0], "driver": parts[1], "memory_mib": memory})
    return found


def docker():
    facts = {"version": None, "default_runtime": None, "runtimes": []}
    out = run("docker", "info", "--format", "{{json .}}")
    if out:
        info = json.loads(out)
        facts["version"] = info.get("ServerVersion")
        facts["default_runtime"] = info.get("DefaultRuntime")
        facts["runtimes"] = sorted(info.get("Runtimes") or {})
    return facts


def sshd(keys):
    """The effective values of the settings seedbed's policy names (config "sshd_keys")."""
    settings = {}
    for line in (run("sshd", "-T") or run("/usr/sbin/sshd", "-T") or "").splitlines():
        key, _, value = line.partition(" ")
        if key in keys:
            settings[key] = value.strip()
    return settings


def swap_kib():
    with open("/proc/swaps") as f:
        rows = f.read().splitlines()[1:]
    return sum(int(r.split()[2]) for r in rows if len(r.split()) > 2)


def firewall():
    out = run("ufw", "status")
    if out is None:
        return {"tool": "ufw", "active": False, "rules": [], "installed": shutil.which("ufw") is not None}
    lines = out.splitlines()
    active = bool(lines) and lines[0].strip().lower() == "status: active"
    rules = [line.strip() for line in lines[3:] if line.strip()]
    return {"tool": "ufw", "active": active, "rules": rules, "installed": True}


def rke2(settings):
    """RKE2 nodes: the install's failed step (if any) and its containerd (socket, runtimes)."""
    failed = None
    if os.path.exists(settings["failed_file"]):
        with open(settings["failed_file"], errors="replace") as f:
            failed = f.read(2000)
    try:
        running = stat.S_ISSOCK(os.stat(settings["containerd_socket"]).st_mode)
    except OSError:
        running = False
    runtimes = []
    try:
        with open(settings["containerd_config"], errors="replace") as f:
            # [plugins."io.containerd.grpc.v1.cri".containerd.runtimes."nvidia"] (or 'nvidia')
            for name in re.findall(r"\.runtimes\.[\"']?([\w-]+)[\"']?\]", f.read()):
                if name not in runtimes:
                    runtimes.append(name)
    except OSError:
        pass
    return {"install_failed": failed, "containerd_running": running,
            "containerd_runtimes": sorted(runtimes)}


# The UEFI global variable SecureBoot: 4 bytes of attributes, then 1 (on) or 0 (off).
SECURE_BOOT_VAR = "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"


def secure_boot():
    """Whether the firmware booted with Secure Boot on, and whether the NVIDIA module loaded
    under it (a DKMS build is not signed by a key the firmware trusts)."""
    facts = {"firmware": "uefi" if os.path.isdir("/sys/firmware/efi") else "bios",
             "enabled": False, "nvidia_module": os.path.isdir("/sys/module/nvidia")}
    if facts["firmware"] == "uefi":
        try:
            with open(SECURE_BOOT_VAR, "rb") as f:
                data = f.read()
            facts["enabled"] = len(data) >= 5 and data[4] == 1
        except OSError:
            facts["enabled"] = None  # efivarfs not mounted: unknown
    return facts


def os_name():
    try:
        with open("/etc/os-release") as f:
            pairs = dict(line.rstrip().split("=", 1) for line in f if "=" in line)
        return pairs.get("PRETTY_NAME", "").strip('"')
    except OSError:
        return None


def facts(config):
    found_gpus = gpus()
    found = {
        "hostname": socket.gethostname(),
        "fqdn": socket.getfqdn(),
        "os": os_name(),
        "kernel": platform.release(),
        "gpus": found_gpus,
        "nvidia_smi": shutil.which("nvidia-smi") is not None,
        "docker": docker(),
        "sshd": sshd(set(config.get("sshd_keys", ()))),
        "swap_kib": swap_kib(),
        "firewall": firewall(),
        "secure_boot": secure_boot(),
    }
    if "rke2" in config:
        found["rke2"] = rke2(config["rke2"])
    return found


def post(url, body, attempts=30):
    data = json.dumps(body).encode()
    for attempt in range(attempts):
        request = urllib.request.Request(url, data=data, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                print("seedbed: ready report accepted:", response.status)
                return 0
        except urllib.error.HTTPError as err:
            # 4xx: the service refused it (token used or closed); retrying cannot help.
            if 400 <= err.code < 500:
                print("seedbed: ready report refused:", err.code, err.read()[:200], file=sys.stderr)
                return 1
        except (urllib.error.URLError, OSError) as err:
            print("seedbed: ready report failed, retrying:", err, file=sys.stderr)
        time.sleep(min(60, 2 ** min(attempt, 6)))
    return 1


def main():
    with open(CONFIG) as f:
        config = json.load(f)
    status = post(config["url"], facts(config))
    if status == 0:
        os.remove(CONFIG)  # the token inside it is spent
    return status


if __name__ == "__main__":
    sys.exit(main())
