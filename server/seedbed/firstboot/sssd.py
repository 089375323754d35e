"""Directory logins on the nodes: SSSD against the site's LDAP server.

With an `ldap` section, the node's first-boot cloud-config gains the packages, /etc/sssd/sssd.conf (0600,
written with configparser from validated values), the CA certificate, sshd's
AuthorizedKeysCommand for key logins, and pam_mkhomedir. The bind password travels
only inside that per-install seed: it is never logged and `seedbed render sssd`
masks it unless asked.
"""

from __future__ import annotations

import configparser
import io
import shlex
from typing import TYPE_CHECKING, Any

from ..inventory import Inventory, Ldap, Node
from .base import Target

if TYPE_CHECKING:
    from ..health import Facts

SSSD_CONF = "/etc/sssd/sssd.conf"
CA_CERT = "/etc/sssd/seedbed-ldap-ca.pem"
SSHD_KEYS_CONF = "/etc/ssh/sshd_config.d/20-seedbed-sss.conf"
PACKAGES = ["sssd-ldap", "sssd-tools", "libnss-sss", "libpam-sss"]
SSHD_MATCH_MARK = "# seedbed: directory password logins"
MASK = "(hidden: seedbed render sssd --show-secrets)"


def sssd_conf(inv: Inventory, ldap: Ldap, *, show_secret: bool = True) -> str:
    keys = "ssh_keys" in ldap.logins
    domain = inv.site.domain
    start_tls = any(uri.startswith("ldap://") for uri in ldap.uri)
    conf = configparser.RawConfigParser(interpolation=None)
    conf.optionxform = str  # type: ignore[assignment,method-assign]  # keep key case
    conf["sssd"] = {
        "config_file_version": "2",
        "domains": domain,
        "services": "nss, pam, ssh" if keys else "nss, pam",
    }
    conf["nss"] = {}
    conf["pam"] = {}
    if keys:
        conf["ssh"] = {}
    section: dict[str, str] = {
        "id_provider": "ldap",
        "auth_provider": "ldap",
        "chpass_provider": "none",
        "ldap_uri": ", ".join(ldap.uri),
        "ldap_search_base": ldap.base_dn,
        "ldap_schema": ldap.schema_,
        "ldap_default_bind_dn": ldap.bind_dn,
        "ldap_default_authtok_type": "password",
        "ldap_default_authtok": ldap.bind_password.get_secret_value() if show_secret else MASK,
        "ldap_tls_cacert": CA_CERT,
        "ldap_tls_reqcert": "demand",
        "ldap_id_use_start_tls": "true" if start_tls else "false",
        "cache_credentials": "true",
        "fallback_homedir": "/home/%u",
        "default_shell": "/bin/bash",
    }
    if keys:
        section["ldap_user_ssh_public_key"] = ldap.ssh_key_attribute
    if ldap.allowed_group:
        section.update(access_provider="simple", simple_allow_groups=ldap.allowed_group)
    else:
        section["access_provider"] = "permit"
    conf[f"domain/{domain}"] = section
    for name in conf.sections():
        for key, value in conf[name].items():
            if any(c in value for c in "\r\n") or value != value.strip():
                raise ValueError(f"sssd.conf [{name}] {key}: the value must be one line")
    out = io.StringIO()
    conf.write(out)
    return "# Written by seedbed from the inventory.\n" + out.getvalue()


def _sshd_password_block(group: str) -> list[str]:
    """Appends a Match block to the very end of sshd_config (a Match in a drop-in file
    would swallow the distribution's settings that follow the Include), once."""
    block = f"\n{SSHD_MATCH_MARK}\nMatch Group {group}\n    PasswordAuthentication yes\n"
    script = (
        f"grep -qxF {shlex.quote(SSHD_MATCH_MARK)} /etc/ssh/sshd_config || "
        f"printf %s {shlex.quote(block)} >> /etc/ssh/sshd_config"
    )
    return ["sh", "-c", script]


def config(target: Target) -> dict[str, Any]:
    """Nothing without an `ldap` section. Listed before `ssh`: its sshd restart then loads
    the AuthorizedKeysCommand and Match settings written here."""
    inv = target.inv
    ldap = inv.ldap
    if ldap is None:
        return {}
    files = [
        {"path": SSSD_CONF, "permissions": "0600", "owner": "root:root", "content": sssd_conf(inv, ldap)},
        {"path": CA_CERT, "permissions": "0644", "content": ldap.ca_cert},
    ]
    if "ssh_keys" in ldap.logins:
        files.append(
            {
                "path": SSHD_KEYS_CONF,
                "permissions": "0644",
                "content": (
                    "# Managed by seedbed: directory users' keys come from LDAP through SSSD.\n"
                    "AuthorizedKeysCommand /usr/bin/sss_ssh_authorizedkeys\n"
                    "AuthorizedKeysCommandUser nobody\n"
                ),
            }
        )
    commands: list[Any] = [
        ["pam-auth-update", "--enable", "mkhomedir"],
        ["systemctl", "enable", "sssd"],
        ["systemctl", "restart", "sssd"],
    ]
    if "passwords" in ldap.logins and ldap.allowed_group:
        commands.append(_sshd_password_block(ldap.allowed_group))
    return {"packages": list(PACKAGES), "write_files": files, "runcmd": commands}


def problems(inv: Inventory, node: Node, facts: Facts) -> list[str]:
    return []
