"""A throwaway OpenLDAP server (Debian's slapd) for tests: its own config, database and
TLS certificates in a temp folder, listening on ldaps://127.0.0.1:PORT."""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from support import free_port, make_certs

SUFFIX = "dc=lab,dc=test"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PW = "root-secret"
BIND_DN = f"uid=sssd-bind,ou=people,{SUFFIX}"
BIND_PW = "bind secret with spaces & % signs"
CMD_TIMEOUT = 30

# The OpenSSH-LPK schema (sshPublicKey), which Debian's slapd does not ship.
LPK_SCHEMA = """
attributetype ( 1.3.6.1.4.1.24552.500.1.1.1.13 NAME 'sshPublicKey'
  DESC 'OpenSSH public key' EQUALITY octetStringMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 )
objectclass ( 1.3.6.1.4.1.24552.500.1.1.2.0 NAME 'ldapPublicKey' SUP top AUXILIARY
  DESC 'OpenSSH LPK objectclass' MAY ( sshPublicKey $ uid ) )
"""


@dataclass
class Slapd:
    root: Path
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def uri(self) -> str:
        return f"ldaps://127.0.0.1:{self.port}"

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.pem"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def _run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=CMD_TIMEOUT, **kwargs)  # type: ignore[call-overload]


def _config(root: Path) -> str:
    schemas = "\n".join(
        f"include /etc/ldap/schema/{s}.schema" for s in ("core", "cosine", "nis", "inetorgperson")
    )
    return f"""{schemas}
include {root}/openssh-lpk.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {root}/slapd.pid
TLSCACertificateFile {root}/ca.pem
TLSCertificateFile {root}/server.pem
TLSCertificateKeyFile {root}/server.key
database mdb
suffix "{SUFFIX}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PW}
directory {root}/db
access to attrs=userPassword by self write by anonymous auth by * none
access to * by users read by * none
"""


def start(root: Path) -> Slapd:
    root.mkdir(parents=True, exist_ok=True)
    make_certs(root)
    (root / "openssh-lpk.schema").write_text(LPK_SCHEMA)
    (root / "db").mkdir()
    (root / "slapd.conf").write_text(_config(root))
    port = free_port()
    log = open(root / "slapd.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        ["slapd", "-d", "0", "-f", str(root / "slapd.conf"), "-h", f"ldaps://127.0.0.1:{port}/"],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    server = Slapd(root, port, proc)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(
                    "stage 'slapd start' failed: " + (root / "slapd.log").read_text()[-2000:]
                ) from None
            time.sleep(0.2)


def add_entries(server: Slapd, ldif: str) -> None:
    _run(
        ["ldapadd", "-x", "-H", server.uri, "-D", ROOT_DN, "-w", ROOT_PW],
        input=ldif,
        env={"LDAPTLS_CACERT": str(server.ca_cert), "PATH": "/usr/bin:/bin"},
    )


def directory(user_key: str) -> str:
    """Base entries, the bind account, user alice (with an SSH key) and group lab-users."""
    return f"""dn: {SUFFIX}
objectClass: dcObject
objectClass: organization
o: lab
dc: lab

dn: ou=people,{SUFFIX}
objectClass: organizationalUnit
ou: people

dn: ou=groups,{SUFFIX}
objectClass: organizationalUnit
ou: groups

dn: {BIND_DN}
objectClass: inetOrgPerson
uid: sssd-bind
cn: sssd bind
sn: bind
userPassword: {BIND_PW}

dn: uid=alice,ou=people,{SUFFIX}
objectClass: inetOrgPerson
objectClass: posixAccount
objectClass: ldapPublicKey
uid: alice
cn: Alice Example
sn: Example
uidNumber: 10001
gidNumber: 10001
homeDirectory: /home/alice
loginShell: /bin/bash
sshPublicKey: {user_key}

dn: cn=lab-users,ou=groups,{SUFFIX}
objectClass: posixGroup
cn: lab-users
gidNumber: 10001
memberUid: alice
"""
