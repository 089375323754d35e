"""The console's test lab: an inventory holding every kind of secret a page must never show,
a signed-in client, and the check that none of those secrets is in any page rendered."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from passlib.hash import sha512_crypt

from seedbed.admin_password import AdminPassword
from seedbed.fsutil import atomic_write
from seedbed.service import Seedbed, Settings
from seedbed.tokens import new_token, token_hash
from seedbed.web import create_app
from support import Clock, inventory_data, write_inventory

CONSOLE_PASSWORD = "console-pass-7f3k2q9w"
ADMIN_CRYPT_PASSWORD = "node-admin-pw-x81"
BIND_PASSWORD = "ldap-bind-pw-q0z7v"
RANCHER_PASSWORD = "rancher-boot-pw-m4n8"
RKE2_TOKEN = "5eedbed0" * 8  # the shape rke2token makes (64 hex digits)
PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2VydA==\n-----END CERTIFICATE-----\n"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def console_inventory() -> dict[str, Any]:
    data = inventory_data()
    data["admin"] = {**data["admin"], "password_hash": sha512_crypt.hash(ADMIN_CRYPT_PASSWORD)}
    del data["admin"]["password"]
    data["ldap"] = {"uri": ["ldaps://127.0.0.1:1"], "base_dn": "dc=lab,dc=test",
                    "bind_dn": "uid=sssd,dc=lab,dc=test", "bind_password": BIND_PASSWORD,
                    "ca_cert": PEM, "logins": ["ssh_keys"]}
    data["cluster"] = {"rancher": {"bootstrap_password": RANCHER_PASSWORD}}
    return data


class Pages:
    """Every page and fragment a test rendered, to grep for secrets at the end."""

    def __init__(self) -> None:
        self.rendered: list[tuple[str, str]] = []

    def keep(self, where: str, text: str) -> None:
        self.rendered.append((where, text))

    def assert_no_secret(self, secrets: dict[str, str]) -> None:
        for where, text in self.rendered:
            for name, secret in secrets.items():
                assert secret not in text, f"{name} appears in {where}"


class Console:
    """A service, its WSGI client, and sign-in as a browser does it (form, CSRF, cookie)."""

    def __init__(self, service: Seedbed, pages: Pages):
        self.service, self.pages = service, pages
        self.client = create_app(service).test_client()
        self.api_token = new_token()
        service.store.add_admin_token(token_hash(self.api_token), "console-tests")

    def get(self, path: str, **kw: Any) -> Any:
        response = self.client.get(path, **kw)
        self.pages.keep(f"GET {path}", response.get_data(as_text=True))
        return response

    def post(self, path: str, **kw: Any) -> Any:
        response = self.client.post(path, **kw)
        self.pages.keep(f"POST {path}", response.get_data(as_text=True))
        return response

    def csrf(self, path: str = "/console/login") -> str:
        found = CSRF.search(self.get(path).get_data(as_text=True))
        assert found, f"no CSRF field on {path}"
        return found.group(1)

    def sign_in(self, password: str = CONSOLE_PASSWORD) -> Any:
        return self.post("/console/login", data={"password": password, "csrf": self.csrf()})

    def secrets(self) -> dict[str, str]:
        state = self.service.settings.state_dir
        found = {"console password": CONSOLE_PASSWORD, "node admin password": ADMIN_CRYPT_PASSWORD,
                 "node admin crypt hash": self.service.inventory.admin.password_hash or "",
                 "LDAP bind password": BIND_PASSWORD, "Rancher password": RANCHER_PASSWORD,
                 "admin API token": self.api_token, "RKE2 cluster token": RKE2_TOKEN}
        stored = AdminPassword(state)
        if stored.is_set():
            found["console password hash"] = stored.path.read_text().strip().split("$")[-1]
        found["session key"] = (state / "console-secret").read_bytes().hex()
        for number, password in enumerate(self.service.power.secrets.values()):
            found[f"BMC password #{number}"] = password
        return found


def console_lab(tmp_path: Path, data: dict[str, Any], **settings: Any) -> Iterator[Console]:
    """A Console on this inventory; every page it rendered is grepped for secrets at the end."""
    inventory = write_inventory(tmp_path / "lab.yaml", data)
    service = Seedbed(Settings(inventory, tmp_path / "state", reload_seconds=0, **settings), Clock())
    AdminPassword(tmp_path / "state").set(CONSOLE_PASSWORD)
    service.cluster.paths.prepare()
    atomic_write(service.cluster.paths.rke2_token, (RKE2_TOKEN + "\n").encode(), 0o600)
    pages = Pages()
    lab = Console(service, pages)
    yield lab
    pages.assert_no_secret(lab.secrets())


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    yield from console_lab(tmp_path, console_inventory())


@pytest.fixture
def signed_in(console: Console) -> Console:
    answer = console.sign_in()
    assert answer.status_code == 303, f"stage sign-in: {answer.status_code}"
    return console
