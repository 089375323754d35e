"""SSSD logins from LDAP: the seed's parts, the rendered sssd.conf checked by `sssctl
config-check`, and a real slapd queried with exactly the settings sssd.conf carries.

Not done here (time budget): a QEMU guest running SSSD against this slapd; the test
image has no sssd packages and the guest has no package mirror."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from seedbed import seeds
from seedbed.firstboot import sssd
from seedbed.inventory import InventoryError
from support import ADMIN_KEY, inventory_data, inventory_of, make_certs

from . import slapd

USER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHc0aGVrZXlvZmFsaWNlZm9ydGhldGVzdHM alice@lab"


def _ldap(uri: str, ca_pem: str, **changes: object) -> dict:
    return {
        "uri": [uri],
        "base_dn": slapd.SUFFIX,
        "bind_dn": slapd.BIND_DN,
        "bind_password": slapd.BIND_PW,
        "ca_cert": ca_pem,
        "logins": ["ssh_keys"],
        "allowed_group": "lab-users",
        **changes,
    }


def _inv(ldap: dict):  # noqa: ANN202
    return inventory_of(inventory_data(ldap=ldap))


@pytest.fixture(scope="module")
def ldap_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[slapd.Slapd]:
    missing = [
        c
        for c in ("slapd", "ldapadd", "ldapsearch", "openssl", "sssctl")
        if not shutil.which(c) and not Path("/usr/sbin", c).exists()
    ]
    if missing:
        pytest.fail(
            f"LDAP tests need {missing}: apt-get install slapd ldap-utils sssd-tools openssl", pytrace=False
        )
    server = slapd.start(tmp_path_factory.mktemp("slapd"))
    try:
        slapd.add_entries(server, slapd.directory(USER_KEY))
        yield server
    finally:
        server.stop()


def _sssctl(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sssctl", "config-check", "-c", str(path)], capture_output=True, text=True, timeout=60
    )


def _search(
    conf: configparser.RawConfigParser,
    section: str,
    ca_file: Path,
    query: str,
    *attrs: str,
    bind: bool = True,
) -> subprocess.CompletedProcess[str]:
    d = conf[section]
    auth = ["-D", d["ldap_default_bind_dn"], "-w", d["ldap_default_authtok"]] if bind else []
    return subprocess.run(
        [
            "ldapsearch",
            "-x",
            "-LLL",
            "-o",
            "ldif-wrap=no",
            "-H",
            d["ldap_uri"],
            *auth,
            "-b",
            d["ldap_search_base"],
            query,
            *attrs,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env={
            "LDAPTLS_CACERT": str(ca_file),
            "LDAPTLS_REQCERT": d["ldap_tls_reqcert"],
            "PATH": "/usr/bin:/bin",
        },
    )


def test_rendered_sssd_conf_passes_sssctl_and_reaches_slapd(ldap_server: slapd.Slapd, tmp_path: Path) -> None:
    inv = _inv(_ldap(ldap_server.uri, ldap_server.ca_cert.read_text()))
    config = seeds.first_boot_config(inv, inv.nodes[0], seeds.SeedUrls(inv.site.base_url, "T"))
    files = {f["path"]: f for f in config["write_files"]}
    conf_file = files[sssd.SSSD_CONF]
    assert conf_file["permissions"] == "0600"

    # sssctl checks the file as sssd would read it: owned by root, mode 0600.
    etc = tmp_path / "sssd"
    etc.mkdir()
    (etc / "conf.d").mkdir()  # as the sssd-common package leaves it
    path = etc / "sssd.conf"
    path.write_text(conf_file["content"])
    os.chmod(path, 0o600)
    check = _sssctl(path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "Issues identified by validators: 0" in check.stdout, check.stdout
    # The validator does catch mistakes: a misspelt option is reported.
    path.write_text(conf_file["content"].replace("ldap_search_base", "ldap_serch_base"))
    assert "ldap_serch_base" in _sssctl(path).stdout
    path.write_text(conf_file["content"])

    # The same settings reach the real directory: the bind DN and password from
    # sssd.conf, the CA certificate from the seed, TLS verified (reqcert demand).
    conf = configparser.RawConfigParser(interpolation=None)
    conf.read_string(conf_file["content"])
    section = "domain/lab.test"
    assert conf[section]["ldap_default_authtok"] == slapd.BIND_PW
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(files[sssd.CA_CERT]["content"])
    user = _search(
        conf,
        section,
        ca_file,
        "(&(objectClass=posixAccount)(uid=alice))",
        "uidNumber",
        conf[section]["ldap_user_ssh_public_key"],
    )
    assert user.returncode == 0, user.stderr
    assert "uidNumber: 10001" in user.stdout and f"sshPublicKey: {USER_KEY}" in user.stdout
    group = _search(
        conf,
        section,
        ca_file,
        f"(&(objectClass=posixGroup)(cn={conf[section]['simple_allow_groups']}))",
        "memberUid",
    )
    assert "memberUid: alice" in group.stdout, group.stdout + group.stderr

    # And both halves matter: no entries without the bind, no TLS with another CA.
    anonymous = _search(conf, section, ca_file, "(uid=alice)", bind=False)
    assert "uid=alice" not in anonymous.stdout
    other_ca = tmp_path / "other"
    other_ca.mkdir()
    make_certs(other_ca)
    wrong = _search(conf, section, other_ca / "ca.pem", "(uid=alice)")
    assert wrong.returncode != 0 and "uid=alice" not in wrong.stdout


def test_seed_installs_sssd_and_wires_pam_and_sshd() -> None:
    inv = _inv(_ldap("ldaps://nas.lab.test", _PEM, logins=["ssh_keys", "passwords"]))
    config = seeds.first_boot_config(inv, inv.nodes[0], seeds.SeedUrls(inv.site.base_url, "T"))
    assert set(sssd.PACKAGES) <= set(config["packages"])
    paths = [f["path"] for f in config["write_files"]]
    assert {sssd.SSSD_CONF, sssd.CA_CERT, sssd.SSHD_KEYS_CONF} <= set(paths)
    keys_conf = next(f for f in config["write_files"] if f["path"] == sssd.SSHD_KEYS_CONF)
    assert "AuthorizedKeysCommand /usr/bin/sss_ssh_authorizedkeys" in keys_conf["content"]
    runcmd = config["runcmd"]
    assert ["pam-auth-update", "--enable", "mkhomedir"] in runcmd
    # The seed's own sshd restart comes after the SSSD steps, so it loads their settings.
    ssh_restart = next(i for i, c in enumerate(runcmd) if "systemctl restart ssh" in str(c))
    assert runcmd.index(["pam-auth-update", "--enable", "mkhomedir"]) < ssh_restart
    match = next(c for c in runcmd if sssd.SSHD_MATCH_MARK in str(c))
    assert "Match Group lab-users" in match[2] and match[2].startswith("grep -qxF")
    # The admin keeps key-only logins: passwords are allowed for the group alone.
    assert config["ssh_pwauth"] is False


def test_bind_password_only_in_sssd_conf_and_masked_in_previews() -> None:
    inv = _inv(_ldap("ldaps://nas.lab.test", _PEM))
    config = seeds.first_boot_config(inv, inv.nodes[0], seeds.SeedUrls(inv.site.base_url, "T"))
    holders = [f["path"] for f in config["write_files"] if slapd.BIND_PW in f["content"]]
    assert holders == [sssd.SSSD_CONF]
    rest = {k: v for k, v in config.items() if k != "write_files"}
    assert slapd.BIND_PW not in json.dumps(rest)
    masked = sssd.sssd_conf(inv, inv.ldap, show_secret=False)
    assert slapd.BIND_PW not in masked and sssd.MASK in masked
    assert slapd.BIND_PW not in repr(inv) and slapd.BIND_PW not in str(inv.model_dump())


def test_without_ldap_the_seed_has_no_sssd() -> None:
    inv = inventory_of(inventory_data())
    config = seeds.first_boot_config(inv, inv.nodes[0], seeds.SeedUrls(inv.site.base_url, "T"))
    assert "packages" not in config or not set(sssd.PACKAGES) & set(config["packages"])
    assert sssd.SSSD_CONF not in [f["path"] for f in config["write_files"]]


_PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2VydA==\n-----END CERTIFICATE-----\n"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"logins": ["passwords"], "allowed_group": None}, "need allowed_group"),
        ({"logins": ["ssh_keys", "ssh_keys"]}, "a login method is listed twice"),
        ({"uri": ["ldaps://a.lab.test", "ldap://b.lab.test"]}, "every server"),
        ({"uri": ["ldaps://nas lab"]}, "URI"),
        ({"ca_cert": "not a certificate"}, "PEM"),
        ({"bind_password": "line\nbreak"}, "one line"),
        ({"allowed_group": "lab users"}, "group name"),
        ({"base_dn": "lab"}, "DN"),
        ({"ssh_key_attribute": "ssh key"}, "attribute"),
    ],
)
def test_unsafe_ldap_settings_are_refused(changes: dict, message: str) -> None:
    with pytest.raises(InventoryError) as err:
        _inv({**_ldap("ldaps://nas.lab.test", _PEM), **changes})
    assert message in str(err.value)


def test_admin_key_unchanged() -> None:
    assert ADMIN_KEY.startswith("ssh-ed25519 ")
