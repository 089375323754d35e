"""The cluster's files in STATE/cluster: rke's working folder, saved state, backups, secrets.

`rke up` writes kube_config_cluster.yml and cluster.rkestate next to
cluster.yml (in work/). The rkestate holds the cluster's certificates and
every later run needs it, so after each successful run both are copied
atomically to STATE/cluster/ and to versioned backups. None of this is under
the files folder that /files serves.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..fsutil import atomic_write
from ..inventory import Inventory

STATE_FILE = "cluster.rkestate"
KUBECONFIG_FILE = "kube_config_cluster.yml"
RKE2_TOKEN_FILE = "rke2-token"  # noqa: S105 - a file name: the secret every RKE2 node joins with
KEEP_BACKUPS = 30


@dataclass(frozen=True)
class ClusterPaths:
    root: Path  # STATE/cluster

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def cluster_yml(self) -> Path:
        return self.work / "cluster.yml"

    @property
    def work_state(self) -> Path:
        return self.work / STATE_FILE

    @property
    def work_kubeconfig(self) -> Path:
        return self.work / KUBECONFIG_FILE

    @property
    def saved_state(self) -> Path:
        return self.root / STATE_FILE

    @property
    def kubeconfig(self) -> Path:
        return self.root / KUBECONFIG_FILE

    @property
    def backups(self) -> Path:
        return self.root / "backups"

    @property
    def lock(self) -> Path:
        return self.root / "job.lock"

    @property
    def rke2_token(self) -> Path:
        return self.root / RKE2_TOKEN_FILE

    @property
    def rke2_ca_hash(self) -> Path:
        """sha256 of the first server's CA (not secret): makes the K10 join token."""
        return self.root / "rke2-ca.sha256"

    @property
    def rancher_password(self) -> Path:
        return self.root / "rancher-bootstrap-password"

    def prepare(self) -> None:
        for folder in (self.root, self.work, self.backups):
            folder.mkdir(parents=True, exist_ok=True)
            os.chmod(folder, 0o700)


def restore_work_state(paths: ClusterPaths) -> bool:
    """Put the saved rkestate back into work/ if it went missing there; True if restored.

    A state rke left in work/ is never replaced: a failed run may already
    have written new certificates to the nodes.
    """
    if paths.work_state.exists() or not paths.saved_state.exists():
        return False
    atomic_write(paths.work_state, paths.saved_state.read_bytes(), 0o600)
    return True


def save_after_up(paths: ClusterPaths, job_id: int) -> list[Path]:
    """Save what a successful rke up wrote; return the new backup files."""
    for source in (paths.work_state, paths.work_kubeconfig):
        if not source.exists():
            raise FileNotFoundError(f"rke up succeeded but wrote no {source.name}")
    return save_versioned(paths, job_id, ((paths.work_state, paths.saved_state),
                                          (paths.work_kubeconfig, paths.kubeconfig)))


def save_versioned(paths: ClusterPaths, job_id: int,
                   pairs: Sequence[tuple[Path, Path | None]]) -> list[Path]:
    """Copy each source to its saved place (if any) and to a versioned backup (0600)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    made = []
    for source, saved in pairs:
        content = source.read_bytes()
        if saved is not None:
            atomic_write(saved, content, 0o600)
        backup = paths.backups / f"{source.name}.{stamp}.job{job_id}"
        atomic_write(backup, content, 0o600)
        made.append(backup)
        _prune(paths.backups, source.name)
    return made


def copy_kubeconfig(paths: ClusterPaths, target: str) -> None:
    """The admin's copy (cluster.kubeconfig in the inventory), private like the original."""
    atomic_write(Path(target), paths.kubeconfig.read_bytes(), 0o600)


def backups(paths: ClusterPaths, name: str = STATE_FILE) -> list[Path]:
    """Backups of `name`, oldest first."""
    if not paths.backups.is_dir():
        return []
    return sorted(paths.backups.glob(f"{name}.*.job*"), key=lambda p: p.stat().st_mtime_ns)


def _prune(folder: Path, name: str) -> None:
    found = sorted(folder.glob(f"{name}.*.job*"), key=lambda p: p.stat().st_mtime_ns)
    for old in found[:-KEEP_BACKUPS]:
        old.unlink()


def rancher_password(inv: Inventory, paths: ClusterPaths) -> str:
    """The inventory's bootstrap password, or one generated once and kept (0600)."""
    given = inv.cluster.rancher.bootstrap_password
    if given is not None:
        return given.get_secret_value()
    if not paths.rancher_password.exists():
        atomic_write(paths.rancher_password, (secrets.token_urlsafe(18) + "\n").encode(), 0o600)
    return paths.rancher_password.read_text(encoding="ascii").strip()


def password_source(inv: Inventory, paths: ClusterPaths) -> str:
    if inv.cluster.rancher.bootstrap_password is not None:
        return "inventory"
    return "generated" if paths.rancher_password.exists() else "not generated yet"


