"""Which file a /files/ request may read: inside the files folder, never seedbed's own state.

A symlink in the folder is followed only when its target is still inside the
folder; the state folder (database, SSH key, cluster credentials) is never
served, even when the files folder is configured to contain it.
"""

from __future__ import annotations

from pathlib import Path

from werkzeug.security import safe_join


def artifact_path(root: Path, state_dir: Path, name: str) -> Path | None:
    """The real path of the file `name` under `root`, or None when it may not be served."""
    joined = safe_join(str(root), name)  # refuses "..", absolute and drive paths
    if joined is None:
        return None
    real = Path(joined).resolve()
    root_real, state_real = root.resolve(), state_dir.resolve()
    if not real.is_relative_to(root_real):
        return None  # a symlink pointing out of the folder
    if real.is_relative_to(state_real) and not real.is_relative_to(state_real / "files"):
        return None  # the database, the service key, cluster credentials
    return real if real.is_file() else None
