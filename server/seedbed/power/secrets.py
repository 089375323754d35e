"""BMC credentials: one JSON file in the state folder, readable by seedbed's user only (0600).

The inventory names a credential (`power.secret`, default the hostname); the password is
set with `seedbed power set-credentials NODE` and read here when a driver is made. It is
never written anywhere else: not to the inventory, a seed, an HTTP answer or a log line.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from ..errors import SeedbedError
from ..fsutil import atomic_write

FILE_NAME = "power-secrets.json"
MAX_SECRET_CHARS = 256


class SecretsError(SeedbedError):
    pass


class SecretsFile:
    def __init__(self, path: Path):
        self.path = path

    def get(self, name: str) -> str | None:
        return self._load().get(name)

    def set(self, name: str, password: str) -> None:
        if not password or len(password) > MAX_SECRET_CHARS or "\n" in password:
            raise SecretsError(f"a BMC password is 1-{MAX_SECRET_CHARS} characters on one line")
        secrets = self._load()
        secrets[name] = password
        atomic_write(self.path, json.dumps(secrets, sort_keys=True).encode(), 0o600)

    def values(self) -> list[str]:
        """Every stored password: what job logs and events are scrubbed of."""
        return list(self._load().values())

    def _load(self) -> dict[str, str]:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise SecretsError(f"{self.path}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise SecretsError(f"{self.path} is readable by others: chmod 600 it")
            try:
                data = json.loads(f.read())
            except ValueError:
                raise SecretsError(f"{self.path} is not the JSON seedbed writes") from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise SecretsError(f"{self.path} is not the JSON seedbed writes")
        return data
