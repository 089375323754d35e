"""No Python traceback reaches a CLI user: each bad input is a nonzero exit and one line
on stderr that says what is wrong. `seedbed.cli.main` in this process (an exception
escaping it is the traceback a user would see), and the issue's own example through a
real `python -m seedbed.cli` process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from seedbed.cli import main
from support import inventory_data, write_inventory

MAC1 = "52:54:00:00:00:01"
HTTPS_INSTALLER = {"kernel": "https://mirror.test/vmlinuz", "initrd": "ubuntu/initrd",
                   "iso": "http://10.20.0.5:8080/files/ubuntu/focal.iso"}

# (name, argv after `seedbed` (INV, STATE, FILE, DIR are filled in), env, what stderr says)
BAD_INPUTS = [
    ("malformed MAC", ["render", "ipxe", "--mac", "nonsense", "--inventory", "INV"], {},
     "malformed MAC"),
    ("MAC missing", ["render", "ipxe", "--inventory", "INV"], {}, "--mac is required"),
    ("bad SEEDBED_CLUSTER_ value", ["nodes", "--inventory", "INV", "--state", "STATE"],
     {"SEEDBED_CLUSTER_ATTEMPTS": "many"}, "SEEDBED_CLUSTER_ATTEMPTS='many' is not a valid"),
    ("out of range SEEDBED_CLUSTER_ value", ["nodes", "--inventory", "INV"],
     {"SEEDBED_CLUSTER_ATTEMPTS": "0"}, "SEEDBED_CLUSTER_ATTEMPTS must be >= 1"),
    ("unknown preflight check", ["nodes", "--inventory", "INV"],
     {"SEEDBED_CLUSTER_PREFLIGHT_SKIP": "dsn"}, "unknown preflight checks ['dsn']"),
    ("missing inventory", ["nodes", "--inventory", "DIR/absent.yaml"], {}, "cannot read"),
    ("inventory is a folder", ["render", "hosts", "--inventory", "DIR"], {}, "cannot read"),
    ("malformed YAML", ["validate", "BROKEN"], {}, "BROKEN"),
    ("malformed YAML, render", ["render", "hosts", "--inventory", "BROKEN"], {}, "BROKEN"),
    ("unknown hostname", ["events", "nosuch", "--inventory", "INV"], {}, "no node 'nosuch'"),
    ("unknown hostname, reinstall", ["reinstall", "nosuch", "--inventory", "INV", "--state", "STATE"],
     {}, "no node 'nosuch'"),
    ("limit not a number", ["events", "gpu01", "--limit", "lots", "--inventory", "INV"], {},
     "'lots' is not a whole number"),
    ("negative limit", ["events", "gpu01", "--limit", "-1", "--inventory", "INV"], {},
     "-1 is not between 0 and"),
    ("negative minutes", ["reinstall", "gpu01", "--minutes", "-5", "--inventory", "INV"], {},
     "-5 is not between 1 and"),
    ("huge minutes", ["reinstall", "gpu01", "--minutes", "9" * 30, "--inventory", "INV"], {},
     "is not between 1 and"),
    ("port out of range", ["serve", "--port", "70000", "--inventory", "INV"], {},
     "70000 is not between 0 and 65535"),
    ("job id not a number", ["cluster", "log", "last", "--inventory", "INV"], {},
     "'last' is not a whole number"),
    ("state is a file, read-only", ["nodes", "--inventory", "INV", "--state", "FILE"], {},
     "is not a folder"),
    ("state is a file, writing", ["reinstall", "gpu01", "--inventory", "INV", "--state", "FILE"], {},
     "is not a folder"),
    ("state under a file", ["token", "create", "--inventory", "INV", "--state", "FILE/state"], {},
     "cannot be used"),
    ("build key missing", ["render", "user-data", "--image", "--build-key", "DIR/absent.pub",
                           "--inventory", "INV"], {}, "absent.pub"),
    ("GRUB cannot fetch the installer", ["render", "grub", "--mac", MAC1, "--inventory", "HTTPS"],
     {}, "boot it with iPXE"),
    ("no ldap for sssd", ["render", "sssd", "--inventory", "INV"], {}, "no ldap section"),
    ("unknown command", ["frobnicate"], {}, "invalid choice: 'frobnicate'"),
    ("unknown render kind", ["render", "kickstart", "--inventory", "INV"], {}, "invalid choice"),
    ("store is not a database", ["nodes", "--inventory", "INV", "--state", "GARBLED"], {},
     "store cannot be read"),
]


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("bad-inputs")
    (root / "a-file").write_text("not a folder\n")
    (root / "broken.yaml").write_text("site: [unclosed\n")
    garbled = root / "garbled"
    garbled.mkdir()
    (garbled / "seedbed.sqlite3").write_bytes(b"this is not SQLite\n" * 200)
    return {"INV": str(write_inventory(root / "lab.yaml", inventory_data())),
            "HTTPS": str(write_inventory(root / "https.yaml", inventory_data(installer=HTTPS_INSTALLER))),
            "BROKEN": str(root / "broken.yaml"), "STATE": str(root / "state"),
            "FILE": str(root / "a-file"), "DIR": str(root), "GARBLED": str(garbled)}


def fill(word: str, places: dict[str, str]) -> str:
    for name, value in places.items():
        if word == name or word.startswith(name + "/"):
            return value + word[len(name):]
    return word


def clean_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for key in [k for k in os.environ if k.startswith("SEEDBED_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)


@pytest.mark.parametrize(("name", "argv", "env", "says"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_one_line_and_no_traceback(places: dict[str, str], name: str, argv: list[str],
                                                env: dict[str, str], says: str,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    clean_env(monkeypatch, env)
    monkeypatch.chdir(places["DIR"])
    try:
        status = main([fill(word, places) for word in argv])
    except SystemExit as exc:  # argparse's way out
        status = exc.code
    out = capsys.readouterr()
    assert status not in (0, None), f"{name}: exit 0\n{out.out}"
    lines = out.err.splitlines()
    assert len(lines) == 1, f"{name}: {len(lines)} lines on stderr:\n{out.err}"
    assert fill(says, places) in lines[0], f"{name}: {lines[0]!r}"


def test_the_issues_example_through_the_real_command(places: dict[str, str]) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SEEDBED_")}
    done = subprocess.run([sys.executable, "-m", "seedbed.cli", "render", "ipxe", "--mac", "nonsense",
                           "--inventory", places["INV"]], capture_output=True, text=True,
                          env={**clean, "SEEDBED_CLUSTER_ATTEMPTS": "1"}, timeout=120,
                          cwd=places["DIR"], check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.splitlines() == ["seedbed render: argument --mac: malformed MAC 'nonsense': "
                                        "expected aa:bb:cc:dd:ee:ff (see seedbed render --help)"]
