"""The service's ed25519 key pair, and its public half in every node's seeds."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import yaml

from seedbed import seeds
from seedbed.cluster.sshkey import ensure_service_key, load_service_key
from support import ADMIN_KEY, inventory_data, inventory_of


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_key_pair_is_made_once_private_and_reused(tmp_path: Path) -> None:
    assert load_service_key(tmp_path) is None
    key = ensure_service_key(tmp_path)
    assert key.private == tmp_path / "ssh" / "id_ed25519"
    assert (_mode(key.private), _mode(key.private.parent)) == (0o600, 0o700)
    assert key.public.startswith("ssh-ed25519 AAAA") and key.public.endswith("seedbed@"
                                                                             + key.public.split("@")[-1])
    shown = subprocess.run(["ssh-keygen", "-l", "-f", str(key.private)], capture_output=True,
                           text=True, check=True).stdout
    assert "(ED25519)" in shown
    private = key.private.read_bytes()
    assert ensure_service_key(tmp_path) == key and key.private.read_bytes() == private

    key.private.chmod(0o644)
    key.private.with_suffix(".pub").unlink()
    again = ensure_service_key(tmp_path)
    assert again.public.split()[:2] == key.public.split()[:2]  # rebuilt from the private key
    assert _mode(again.private) == 0o600


def test_the_service_key_is_authorized_in_both_seeds_once() -> None:
    inv = inventory_of(inventory_data())
    node = inv.nodes[0]
    urls = seeds.SeedUrls(inv.site.base_url, "T" * 43)
    service = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeServiceKeyForTestsOnly00000000000 seedbed@host"
    config = yaml.safe_load(seeds.user_data(inv, node, urls, "autoinstall", service))["autoinstall"]
    assert config["ssh"]["authorized-keys"] == [ADMIN_KEY, service]
    assert config["user-data"]["users"][0]["ssh_authorized_keys"] == [ADMIN_KEY, service]
    first_boot = yaml.safe_load(seeds.user_data(inv, node, urls, "cloud-config", service))
    assert first_boot["users"][0]["ssh_authorized_keys"] == [ADMIN_KEY, service]
    without = yaml.safe_load(seeds.user_data(inv, node, urls, "cloud-config"))
    assert without["users"][0]["ssh_authorized_keys"] == [ADMIN_KEY]
    assert seeds.admin_keys(inv, ADMIN_KEY) == [ADMIN_KEY]
