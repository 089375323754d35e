"""`pip install .` carries the templates and data: the wheel works outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_works_without_the_checkout(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    wheel = next(tmp_path.glob("seedbed-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in ("seedbed/templates/install.ipxe.j2", "seedbed/_data/autoinstall/base.yaml",
                     "seedbed/_data/autoinstall/schema.json",
                     "seedbed/_data/cloud-init/files/seedbed-ready.py",
                     "seedbed/_data/rke/ports.yaml", "seedbed/_data/examples/lab.yaml",
                     "seedbed/web/console/templates/machines.html",
                     "seedbed/web/console/static/htmx-2.0.11.min.js"):
        assert expected in names, expected
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    # Run from an unrelated folder with only the unpacked wheel (plus the venv's
    # dependencies) importable: nothing may come from the checkout.
    env = {**os.environ, "PYTHONPATH": str(unpacked), "SEEDBED_STATE": str(tmp_path / "state")}
    env.pop("SEEDBED_INVENTORY", None)
    result = subprocess.run(
        [sys.executable, "-I", "-c",
         "import sys; sys.path.insert(0, sys.argv[1]); import seedbed.cli as c; "
         "assert c.__file__.startswith(sys.argv[1]), c.__file__; "
         "sys.exit(c.main(['render', 'user-data', '--mac', '3c:ec:ef:10:00:01', "
         "'--state', sys.argv[2]]))", str(unpacked), str(tmp_path / "state")],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("#cloud-config\nautoinstall:")
    assert "seedbed-ready.py" in result.stdout
