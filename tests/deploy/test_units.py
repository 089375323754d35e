"""The always-on recipes in deploy/: the systemd unit (systemd-analyze verify and security, offline)
and the compose file for Synology Container Manager (docker-compose config: the Compose schema)."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from seedbed.cli import parser as _parser
from seedbed.httpserver import ServerLimits

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNIT = DEPLOY / "systemd" / "seedbed.service"
DNSMASQ_DROP_IN = DEPLOY / "systemd" / "seedbed.service.d" / "dnsmasq.conf"
COMPOSE = DEPLOY / "compose" / "compose.yaml"
SYSTEM_UNITS = Path("/usr/lib/systemd/system")
MAX_EXPOSURE = 3.0  # systemd-analyze security: 0 (locked down) .. 10 (exposed); "OK" is < 4


def need(command: str, package: str) -> str:
    path = shutil.which(command)
    if path is None:
        pytest.skip(f"{command} missing (Debian package {package}; `make test` installs it)")
    return path


def service_section(*paths: Path) -> configparser.RawConfigParser:
    """[Service] of the unit with its drop-ins applied (an empty ExecStart= resets the list)."""
    merged: dict[str, list[str]] = {}
    for path in paths:
        for line in path.read_text().splitlines():
            if "=" in line and not line.lstrip().startswith("#") and not line.startswith("["):
                key, value = line.split("=", 1)
                merged[key.strip()] = [] if not value.strip() else merged.get(key.strip(), []) + [value]
    parser = configparser.RawConfigParser()
    parser.read_dict({"Service": {k: v[-1] if v else "" for k, v in merged.items()}})
    return parser


def unit_root(tmp_path: Path, with_dnsmasq: bool) -> Path:
    """A root for `systemd-analyze --root`: the host's system units, seedbed's unit, its binary."""
    if not SYSTEM_UNITS.is_dir():
        pytest.skip(f"{SYSTEM_UNITS} missing: systemd is not installed")
    root = tmp_path / "root"
    shutil.copytree(SYSTEM_UNITS, root / SYSTEM_UNITS.relative_to("/"), symlinks=True)
    units = root / "etc/systemd/system"
    units.mkdir(parents=True)
    shutil.copy(UNIT, units)
    if with_dnsmasq:
        (units / "seedbed.service.d").mkdir()
        shutil.copy(DNSMASQ_DROP_IN, units / "seedbed.service.d")
    exec_start = shlex.split(service_section(UNIT)["Service"]["ExecStart"])[0]
    binary = root / exec_start.lstrip("/")
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    return root


@pytest.mark.parametrize("with_dnsmasq", [False, True], ids=["http", "http+dnsmasq"])
def test_systemd_unit_verifies_and_is_locked_down(tmp_path: Path, with_dnsmasq: bool) -> None:
    analyze = need("systemd-analyze", "systemd")
    root = unit_root(tmp_path, with_dnsmasq)
    verify = subprocess.run([analyze, "verify", f"--root={root}", "seedbed.service"],
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0 and not verify.stderr.strip(), \
        f"systemd-analyze verify:\n{verify.stdout}{verify.stderr}"
    security = subprocess.run([analyze, "security", "--offline=true", f"--root={root}",
                               f"--threshold={int(MAX_EXPOSURE * 10)}", "seedbed.service"],
                              capture_output=True, text=True, timeout=60)
    summary = security.stdout.strip().splitlines()[-1] if security.stdout.strip() else security.stderr
    assert security.returncode == 0, f"systemd-analyze security over {MAX_EXPOSURE}: {summary}"


def test_systemd_unit_runs_seedbed_as_documented() -> None:
    plain = service_section(UNIT)["Service"]
    with_dnsmasq = service_section(UNIT, DNSMASQ_DROP_IN)["Service"]
    for key, value in {"DynamicUser": "yes", "ProtectSystem": "strict", "StateDirectory": "seedbed",
                       "Restart": "on-failure", "NoNewPrivileges": "yes"}.items():
        assert plain.get(key) == value, f"seedbed.service: {key}={plain.get(key)}, want {value}"
    assert plain["CapabilityBoundingSet"] == "" and plain["AmbientCapabilities"] == "", \
        "the HTTP-only unit must hold no capability"
    assert set(with_dnsmasq["AmbientCapabilities"].split()) == \
        {"CAP_NET_BIND_SERVICE", "CAP_NET_ADMIN", "CAP_NET_RAW"}
    limits = ServerLimits()
    assert int(plain["LimitNOFILE"]) >= limits.connection_limit + limits.descriptor_reserve, \
        "LimitNOFILE leaves no room for the default connection limit"
    for section in (plain, with_dnsmasq):
        argv = shlex.split(section["ExecStart"])
        _parser().parse_args(argv[1:])  # exits (fails the test) on a flag seedbed does not take
    assert "--dnsmasq" in with_dnsmasq["ExecStart"] and "--dnsmasq" not in plain["ExecStart"]


def compose_config(path: Path) -> subprocess.CompletedProcess:
    compose = need("docker-compose", "docker-compose")
    return subprocess.run([compose, "-f", str(path), "config", "-q"], capture_output=True, text=True,
                          timeout=60, cwd=path.parent)


def test_compose_file_is_valid_compose() -> None:
    checked = compose_config(COMPOSE)
    assert checked.returncode == 0, f"docker-compose config:\n{checked.stderr}"


def test_compose_checker_refuses_a_broken_file(tmp_path: Path) -> None:
    """The schema check is strict: a misspelt key is an error, not ignored."""
    broken = yaml.safe_load(COMPOSE.read_text())
    broken["services"]["seedbed"]["netwrok_mode"] = broken["services"]["seedbed"].pop("network_mode")
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump(broken))
    checked = compose_config(tmp_path / "compose.yaml")
    assert checked.returncode != 0 and "netwrok_mode" in checked.stderr, checked.stderr


def test_compose_service_is_always_on_with_host_networking() -> None:
    service = yaml.safe_load(COMPOSE.read_text())["services"]["seedbed"]
    assert service["network_mode"] == "host", "DHCP/PXE broadcasts need the host's network"
    assert service["restart"] in ("unless-stopped", "always")
    assert any(v.endswith(":/var/lib/seedbed") for v in service["volumes"]), "no state volume"
    assert service["environment"]["SEEDBED_STATE"] == "/var/lib/seedbed"
    _parser().parse_args(service["command"])
    assert service["ulimits"]["nofile"]["soft"] >= ServerLimits().connection_limit
    containerfile = (DEPLOY / "container" / "Containerfile").read_text()
    assert service["build"]["dockerfile"] == "deploy/container/Containerfile"
    assert 'ENTRYPOINT ["seedbed"]' in containerfile
