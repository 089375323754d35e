"""A fake RKE2 artifact mirror for tests: install.sh, the tarball, the images and their
sha256sum-amd64.txt, laid out as seedbed's files folder serves them (rke2/<version>/).

The fakes are strict: install.sh refuses arguments, a missing or wrong INSTALL_RKE2_TYPE or
INSTALL_RKE2_ARTIFACT_PATH and artifacts that do not match their checksums (as rancher's
install.sh does); the tarball's `rke2` refuses to start without a config.yaml of mode 0600
holding a token. They record what they were given under `record`.
"""

from __future__ import annotations

import hashlib
import io
import os
import shlex
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from seedbed.cluster import data

INSTALL_SH = r"""#!/bin/sh
# Fake rancher/rke2 install.sh (a test's): checks what seedbed's first boot hands it.
set -eu
RECORD=@RECORD@
PREFIX=@PREFIX@
fail() { echo "fake install.sh: $*" >&2; exit 2; }
[ $# -eq 0 ] || fail "unexpected arguments: $*"
case "${INSTALL_RKE2_TYPE:-}" in
    server|agent) ;;
    *) fail "INSTALL_RKE2_TYPE is '${INSTALL_RKE2_TYPE:-}'" ;;
esac
dir=${INSTALL_RKE2_ARTIFACT_PATH:-}
[ -n "$dir" ] || fail "INSTALL_RKE2_ARTIFACT_PATH is not set"
for name in sha256sum-amd64.txt rke2.linux-amd64.tar.gz rke2-images.linux-amd64.tar.zst; do
    [ -s "$dir/$name" ] || fail "$dir/$name is missing"
done
cd "$dir"
sha256sum --check --strict --ignore-missing sha256sum-amd64.txt >/dev/null || fail "checksums"
mkdir -p "$RECORD" "$PREFIX"
tar -xzf rke2.linux-amd64.tar.gz -C "$PREFIX"
env | grep '^INSTALL_RKE2_' | sort >"$RECORD/install-env"
echo "$#" >"$RECORD/install-argc"
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then systemctl daemon-reload; fi
"""

# The tarball's bin/rke2: what the unit runs. Reads config.yaml as rke2 would (and refuses it
# unless 0600 with a token), then leaves containerd's socket and config.toml where rke2 does.
RKE2_BIN = r"""#!/usr/bin/env python3
import json, os, socket, stat, sys
record, config_path = @RECORD@, @CONFIG@
socket_path, toml = @SOCKET@, @TOML@
kind = sys.argv[1] if len(sys.argv) == 2 else None
if kind not in ("server", "agent"):
    sys.exit(f"fake rke2: usage: rke2 server|agent, got {sys.argv[1:]}")
mode = stat.S_IMODE(os.stat(config_path).st_mode)
if mode != 0o600:
    sys.exit(f"fake rke2: {config_path} has mode {mode:o}, not 600")
text = open(config_path).read()
if "\ntoken: " not in text:
    sys.exit(f"fake rke2: {config_path} has no token")
os.makedirs(record, exist_ok=True)
with open(os.path.join(record, "started"), "w") as f:
    json.dump({"kind": kind, "config": text, "mode": oct(mode)}, f)
os.makedirs(os.path.dirname(toml), exist_ok=True)
with open(toml, "w") as f:
    f.write("[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.'runc']\n")
os.makedirs(os.path.dirname(socket_path), exist_ok=True)
if os.path.exists(socket_path):
    os.remove(socket_path)
socket.socket(socket.AF_UNIX).bind(socket_path)  # the socket file stays: containerd is "up"
"""

UNIT = """[Unit]
Description=fake rke2 {kind} (a test's)
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart={prefix}/bin/rke2 {kind}
[Install]
WantedBy=multi-user.target
"""


def _bake(text: str, quote: Callable[[str], str], **values: str) -> str:
    for key, value in values.items():
        text = text.replace(f"@{key}@", quote(value))
    return text


def _tarball(prefix: str, record: str, paths: dict[str, str]) -> bytes:
    members = {
        "bin/rke2": (_bake(RKE2_BIN, repr, RECORD=record, CONFIG=paths["config"],
                           SOCKET=paths["socket"], TOML=paths["toml"]), 0o755),
        **{f"lib/systemd/system/rke2-{kind}.service": (UNIT.format(kind=kind, prefix=prefix), 0o644)
           for kind in ("server", "agent")},
    }
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, (text, mode) in members.items():
            blob = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(blob), mode
            tar.addfile(info, io.BytesIO(blob))
    return out.getvalue()


def write_mirror(files: Path, *, record: str, prefix: str, paths: dict[str, str]) -> dict[str, Any]:
    """The fake artifacts under files/rke2/<version>/; returns the pins seedbed must use
    (install.sh's sha256) and the folder. `paths`: config, socket, toml as the node has them."""
    pins = data.rke2_versions()
    names = pins["artifacts"]
    folder = files / pins["artifact_folder"] / str(pins["rke2_version"])
    folder.mkdir(parents=True, exist_ok=True)
    install = _bake(INSTALL_SH, shlex.quote, RECORD=record, PREFIX=prefix).encode()
    blobs = {names["install_script"]: install,
             names["tarball"]: _tarball(prefix, record, paths),
             names["images"]: os.urandom(4096)}
    for name, blob in blobs.items():
        (folder / name).write_bytes(blob)
    sums = "".join(f"{hashlib.sha256(blobs[n]).hexdigest()}  {n}\n"
                   for n in (names["tarball"], names["images"]))
    (folder / names["checksums"]).write_text(sums)
    return {"install_script_sha256": hashlib.sha256(install).hexdigest(), "folder": folder}


def pin_install_script(monkeypatch: pytest.MonkeyPatch, digest: str,
                       **more: Any) -> Callable[[], dict[str, Any]]:
    """seedbed's pins with the fake install.sh's sha256 (and `more`), in this process."""
    real = data.rke2_versions

    def pinned() -> dict[str, Any]:
        return {**real(), "install_script_sha256": digest, **more}

    monkeypatch.setattr(data, "rke2_versions", pinned)
    return pinned
