"""`seedbed render dnsmasq|hosts|zone|sssd` prints what the LAN services are given."""

from __future__ import annotations

from pathlib import Path

import pytest

from seedbed.cli import main
from support import inventory_data, write_inventory

PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2VydA==\n-----END CERTIFICATE-----\n"


def _render(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, data: dict, *extra: str
) -> tuple[int, str, str]:
    inventory = write_inventory(tmp_path / "lab.yaml", data)
    rc = main(["render", kind, "--inventory", str(inventory), "--state", str(tmp_path / "st"), *extra])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_render_dnsmasq_hosts_and_zone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _render(tmp_path, capsys, "dnsmasq", inventory_data(dhcp={"mode": "full"}))
    assert rc == 0 and "dhcp-host=52:54:00:00:00:01,10.20.0.21,gpu01,12h" in out
    assert f"dhcp-leasefile={(tmp_path / 'st' / 'dnsmasq').resolve()}/dnsmasq.leases" in out
    rc, out, _ = _render(tmp_path, capsys, "hosts", inventory_data())
    assert rc == 0 and "10.20.0.22\tgpu02.lab.test gpu02" in out
    rc, out, _ = _render(tmp_path, capsys, "zone", inventory_data())
    assert rc == 0 and "$ORIGIN lab.test." in out


def test_render_sssd_masks_the_password_unless_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ldap = {
        "uri": ["ldaps://nas.lab.test"],
        "base_dn": "dc=lab,dc=test",
        "bind_dn": "uid=bind,dc=lab,dc=test",
        "bind_password": "pw-9f3k",
        "ca_cert": PEM,
    }
    rc, out, _ = _render(tmp_path, capsys, "sssd", inventory_data(ldap=ldap))
    assert rc == 0 and "pw-9f3k" not in out and "ldap_uri = ldaps://nas.lab.test" in out
    rc, out, _ = _render(tmp_path, capsys, "sssd", inventory_data(ldap=ldap), "--show-secrets")
    assert rc == 0 and "ldap_default_authtok = pw-9f3k" in out
    rc, _, err = _render(tmp_path, capsys, "sssd", inventory_data())
    assert rc == 1 and "no ldap section" in err
