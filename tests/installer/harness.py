"""Ubuntu's installer (subiquity + curtin + probert) in its own dry-run mode, set up once.

The set-up unpacks the pinned sources (../shared/installer-sources, see its README),
makes a venv on Debian's Python (python3-apt and python3-systemd come from Debian)
with the PyPI packages subiquity needs, builds probert's two libnl extensions, and
unpacks cloud-init from Debian's .deb. It is cached under
~/.cache/seedbed/installer-<release>-<key> ($SEEDBED_INSTALLER_CACHE overrides the
folder), built in a temporary folder under a lock and renamed into place.

A run starts `subiquity.cmd.server --dry-run` on one autoinstall document and one
machine description (probert JSON). Commands the installer would run on the host go
through the systemd-cat stand-in, which records them; outbound HTTP goes to a closed
loopback port through the proxy variables; every wait is bounded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from seedbed.deploy.build import BuildLock as build_lock

REPO = Path(__file__).resolve().parents[2]
STANDINS = Path(__file__).parent / "standins"
# Debian's interpreter: python3-apt and python3-systemd exist only for it.
SYSTEM_PYTHON = "/usr/bin/python3"
RECIPE_VERSION = "1"
SETUP_TIMEOUT = 10 * 60
RUN_TIMEOUT = 120


@dataclass(frozen=True)
class Release:
    """One subiquity release and the curtin/probert revisions its snapcraft.yaml pins."""

    name: str
    subiquity: str
    curtin: str
    probert: str
    cloud_init: str  # the Debian cloud-init version prefix it runs with
    pypi: tuple[str, ...]


PYPI_2023 = ("attrs==22.2.0", "aiohttp>=3.8,<3.9", "jsonschema==3.2.0", "PyYAML", "requests",
             "requests-unixsocket", "pyudev", "urwid", "pymongo", "more-itertools",
             "async-timeout", "configobj", "jinja2", "jsonpatch", "netifaces", "oauthlib",
             "pyserial")

RELEASES = {
    "23.02.1": Release("23.02.1", "subiquity-23.02.1.tar.gz", "curtin-c56c51aa.tar.gz",
                       "probert-630e33cc.tar.gz", "22.4.2", PYPI_2023),
}


def sources_dir() -> Path:
    env = os.environ.get("SEEDBED_INSTALLER_SOURCES")
    return Path(env) if env else REPO.parent / "shared" / "installer-sources"


def missing_sources(release: Release) -> str | None:
    """Why the installer cannot be set up here (None when it can)."""
    folder = sources_dir()
    missing = [n for n in (release.subiquity, release.curtin, release.probert)
               if not (folder / n).is_file()]
    if missing:
        return f"installer sources missing in {folder} ({', '.join(missing)}; set SEEDBED_INSTALLER_SOURCES)"
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} (Debian's python3) is missing"
    return None


def cache_root() -> Path:
    env = os.environ.get("SEEDBED_INSTALLER_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "seedbed"


def cache_key(release: Release) -> str:
    folder = sources_dir()
    recipe = [RECIPE_VERSION, SYSTEM_PYTHON, release.cloud_init, *release.pypi]
    recipe += [f"{n}:{(folder / n).stat().st_size}" for n in (release.subiquity, release.curtin,
                                                             release.probert)]
    return hashlib.sha256("\n".join(recipe).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Installer:
    """A set-up installer: where its sources and its venv are."""

    root: Path
    release: Release

    @property
    def subiquity(self) -> Path:
        return self.root / "subiquity"

    @property
    def python(self) -> Path:
        return self.root / "venv" / "bin" / "python"

    @property
    def manifest(self) -> dict[str, Any]:
        return json.loads((self.root / "installer.json").read_text())

    def pythonpath(self) -> str:
        return os.pathsep.join([str(STANDINS / "python"), str(self.root / "curtin"),
                                str(self.root / "cloud-init" / "usr/lib/python3/dist-packages")])


def prepare_installer(release_name: str = "23.02.1") -> Installer:
    """The cached installer for a release, set up first when no complete entry exists."""
    release = RELEASES[release_name]
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    entry = root / f"installer-{release.name}-{cache_key(release)}"
    if not (entry / "installer.json").is_file():
        with build_lock(root / f".installer-{release.name}.lock", SETUP_TIMEOUT + 60):
            if not (entry / "installer.json").is_file():
                for stale in root.glob(f"tmp-installer-{release.name}-*"):
                    shutil.rmtree(stale, ignore_errors=True)
                _set_up(entry, release)
    return Installer(entry, release)


def _set_up(entry: Path, release: Release) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f"tmp-installer-{release.name}-", dir=entry.parent))
    started = time.monotonic()
    try:
        for name, target in ((release.subiquity, "subiquity"), (release.curtin, "curtin"),
                             (release.probert, "probert")):
            _unpack(sources_dir() / name, tmp / target)
        _step(["python3 -m venv", SYSTEM_PYTHON, "-m", "venv", "--system-site-packages",
               str(tmp / "venv")])
        pip = [str(tmp / "venv" / "bin" / "python"), "-m", "pip", "install", "-q",
               "--disable-pip-version-check"]
        _step(["pip install (PyPI)", *pip, *release.pypi])
        _step(["pip install probert (builds its libnl extensions)", *pip, "--no-deps",
               str(tmp / "probert")])
        deb = _download_cloud_init(tmp, release)
        _step(["dpkg-deb -x cloud-init", "dpkg-deb", "-x", str(deb), str(tmp / "cloud-init")])
        manifest = {"release": release.name, "cloud_init_deb": deb.name,
                    "setup_seconds": round(time.monotonic() - started, 1)}
        (tmp / "installer.json").write_text(json.dumps(manifest, indent=2) + "\n")
        os.rename(tmp, entry)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _unpack(tarball: Path, target: Path) -> None:
    # Each tarball holds one top folder (git archive --prefix=NAME/).
    with tarfile.open(tarball) as tar:
        tar.extractall(target.parent / "unpack", filter="data")
    (top,) = (target.parent / "unpack").iterdir()
    top.rename(target)
    (target.parent / "unpack").rmdir()


def _download_cloud_init(folder: Path, release: Release) -> Path:
    _step(["apt-get download cloud-init", "apt-get", "download", "-q", "cloud-init"], cwd=folder)
    (deb,) = folder.glob("cloud-init_*.deb")
    version = deb.name.split("_")[1]
    if not version.startswith(release.cloud_init):
        raise RuntimeError(f"installer set-up: apt offers cloud-init {version}, "
                           f"subiquity {release.name} wants {release.cloud_init}")
    return deb


def _step(what_and_argv: list[str], cwd: Path | None = None) -> None:
    what, *argv = what_and_argv
    try:
        subprocess.run(argv, cwd=cwd, check=True, capture_output=True, text=True, timeout=SETUP_TIMEOUT)
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"installer set-up failed at {what}:\n{exc.stdout[-2000:]}\n"
                           f"{exc.stderr[-3000:]}") from exc


# -- one dry-run ---------------------------------------------------------------------------


@dataclass
class DryRun:
    """What one dry-run produced, read from its output base."""

    output: Path
    returncode: int | None
    crashed: bool
    seconds: float
    recorded: list[list[str]]

    def log(self) -> str:
        """The installer's own failures first (its FAIL events), then the log's tail."""
        path = self.output / "subiquity-server-debug.log"
        if not path.exists():
            return "(no server log)"
        text = path.read_text(errors="replace")
        fails = [line for line in text.splitlines() if " FAIL: " in line][:5]
        return "\n".join(fails) + "\n...\n" + text[-3000:]

    def failure(self, stage: str) -> str:
        return f"installer dry-run, {stage} (output {self.output}):\n{self.log()}"

    def _yaml(self, relative: str) -> Any:
        path = self.output / relative
        assert path.is_file(), self.failure(f"no {relative} written")
        return yaml.safe_load(path.read_text())

    @property
    def storage(self) -> list[dict[str, Any]]:
        """The curtin storage config the installer would partition with."""
        conf = self._yaml("var/log/installer/curtin-install/subiquity-partitioning.conf")
        return conf["storage"]["config"]

    def target_disks(self) -> list[str]:
        """The disks that storage config partitions (a `direct` layout: exactly one)."""
        return [d["path"] for d in self.storage if d["type"] == "disk" and d.get("ptable")
                and not d.get("preserve")]

    @property
    def installed_user_data(self) -> dict[str, Any]:
        """The installed system's first-boot cloud-config (identity, SSH) the installer wrote."""
        datasource = self._yaml("etc/cloud/cloud.cfg.d/99-installer.cfg")["datasource"]["None"]
        return yaml.safe_load(datasource["userdata_raw"])

    @property
    def netplan(self) -> dict[str, Any]:
        return self._yaml("etc/netplan/00-installer-config.yaml")

    @property
    def apt_config(self) -> dict[str, Any]:
        return self._yaml("var/log/installer/subiquity-curtin-apt.conf")


class InstallerRunner:
    """Runs dry-runs of one set-up installer with outbound HTTP blocked."""

    def __init__(self, installer: Installer, closed_port: int) -> None:
        self.installer = installer
        self.blackhole = f"http://127.0.0.1:{closed_port}"

    def env(self, run_dir: Path, fail_command: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env.update({
            "PATH": f"{STANDINS / 'bin'}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
            "PYTHONPATH": self.installer.pythonpath(),
            "LANG": "C.UTF-8",
            "SUBIQUITY_REPLAY_TIMESCALE": "100",  # the replayed curtin log, 100x faster
            "SEEDBED_RECORDED_COMMANDS": str(run_dir / "commands.jsonl"),
            "SEEDBED_DRYRUN_SYSFS": str(run_dir / "sysfs"),
            # Any request not for loopback goes to a closed loopback port and fails there.
            "http_proxy": self.blackhole, "https_proxy": self.blackhole,
            "HTTP_PROXY": self.blackhole, "HTTPS_PROXY": self.blackhole,
            "no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost",
        })
        if fail_command:
            env["SEEDBED_FAIL_COMMAND"] = fail_command
        return env

    def run(self, autoinstall: dict[str, Any], machine: dict[str, Any], rotational: dict[str, bool],
            run_dir: Path, fail_command: str | None = None, timeout: float = RUN_TIMEOUT) -> DryRun:
        """One dry-run install; `rotational` is the host sysfs view of each disk by kernel name."""
        run_dir.mkdir(parents=True)
        for name, rota in rotational.items():
            queue = run_dir / "sysfs" / name / "queue"
            queue.mkdir(parents=True)
            (queue / "rotational").write_text("1\n" if rota else "0\n")
        (run_dir / "autoinstall.yaml").write_text(yaml.safe_dump(autoinstall, sort_keys=False))
        (run_dir / "machine.json").write_text(json.dumps(machine, indent=1))
        output = run_dir / "output"
        subiquity = self.installer.subiquity
        argv = [str(self.installer.python), "-m", "seedbed_dryrun", "--dry-run",
                "--output-base", str(output), "--machine-config", str(run_dir / "machine.json"),
                "--bootloader", "uefi", "--autoinstall", str(run_dir / "autoinstall.yaml"),
                "--kernel-cmdline", "autoinstall",
                "--source-catalog", str(subiquity / "examples" / "install-sources.yaml")]
        started = time.monotonic()
        with (run_dir / "server.out").open("wb") as out:
            proc = subprocess.Popen(argv, cwd=subiquity, env=self.env(run_dir, fail_command),
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                crashed = _wait_for_exit_or_crash(proc, output, timeout)
            finally:
                _stop(proc)
        return DryRun(output, proc.returncode if not crashed else None, crashed,
                      round(time.monotonic() - started, 1), _recorded(run_dir / "commands.jsonl"))


def _wait_for_exit_or_crash(proc: subprocess.Popen, output: Path, timeout: float) -> bool:
    """True when the installer failed: it wrote a crash report and ran its error-commands.

    After a failure subiquity waits for a client forever; the server log's
    `subiquity/Error/run` finish line says the error-commands are done.
    """
    deadline = time.monotonic() + timeout
    crash_seen = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return any((output / "var" / "crash").glob("*.crash"))
        if crash_seen is None and any((output / "var" / "crash").glob("*.crash")):
            crash_seen = time.monotonic()
        if crash_seen is not None and (_error_commands_done(output) or time.monotonic() - crash_seen > 20):
            return True
        time.sleep(0.2)
    raise TimeoutError(f"installer dry-run neither finished nor crashed within {timeout}s "
                       f"(output {output})")


def _error_commands_done(output: Path) -> bool:
    log = output / "subiquity-server-debug.log"
    return log.exists() and "finish: subiquity/Error/run" in log.read_text(errors="replace")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=10)


def _recorded(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
