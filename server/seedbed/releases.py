"""The Ubuntu releases seedbed installs, read from autoinstall/releases.yaml.

A node installs its own `release`, else the site's `installer.release` (default
20.04). Each release knows its netboot files, its cloud-init datasource name, its
autoinstall schema and keys, and how much RAM its netboot install holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Literal

import yaml

from .resources import data_file

if TYPE_CHECKING:  # the inventory's models name releases; this module reads them
    from .inventory import Inventory, Node

ReleaseName = Literal["20.04", "22.04", "24.04"]
DEFAULT_RELEASE: ReleaseName = "20.04"  # the lab's existing guide (README: Releases and engines)
MIB = 1024 * 1024


@dataclass(frozen=True)
class Release:
    name: str
    codename: str
    point_release: str
    iso: str  # the ISO's file name
    iso_mib: int
    installer_ram_mib: int
    datasource: Literal["nocloud", "nocloud-net"]
    schema: str  # under autoinstall/
    installer: str  # which installer's rules the schema and keys follow
    keys: tuple[str, ...]
    docker: dict[str, str]  # docker, containerd, buildx: Docker CE's pins for this release

    @property
    def folder(self) -> str:
        """Where its netboot files sit under the files folder: ubuntu-24.04.4/..."""
        return f"ubuntu-{self.point_release}"

    @property
    def kernel(self) -> str:
        return f"{self.folder}/vmlinuz"

    @property
    def initrd(self) -> str:
        return f"{self.folder}/initrd"

    @property
    def netboot_ram_mib(self) -> int:
        """RAM a netboot install needs: casper holds the whole ISO in a tmpfs."""
        return self.iso_mib + self.installer_ram_mib

    def has(self, key: str) -> bool:
        return key in self.keys

    def builds_for(self, version: str) -> bool:
        """False for a Docker package version built for another release (~ubuntu.X~name)."""
        built = re.search(r"~ubuntu\.([0-9.]+)~([a-z]+)$", version)
        return built is None or built.groups() == (self.name, self.codename)


def release_name(v: object) -> object:
    """`24.04` unquoted is the YAML float 24.04: read it as the release it names."""
    return f"{v:.2f}" if isinstance(v, float) else v


@cache
def releases() -> dict[str, Release]:
    raw = yaml.safe_load(data_file("autoinstall", "releases.yaml").read_text(encoding="utf-8"))
    return {name: Release(name=name, **{**entry, "keys": tuple(entry["keys"])})
            for name, entry in raw.items()}


def release(name: str) -> Release:
    return releases()[name]


def node_release(inv: Inventory, node: Node) -> Release:
    """The release this node installs: its own, else the site's."""
    return release(node.release or inv.installer.release)


def installer_files(inv: Inventory, rel: Release) -> tuple[str, str, str]:
    """The kernel, initrd and ISO URL its installer boots: the inventory's installer
    section names them for the site's release, else the release's names under files/."""
    installer = inv.installer
    own = rel.name == installer.release
    default_iso = f"{inv.site.base_url}/files/{rel.folder}/{rel.iso}"
    return ((own and installer.kernel) or rel.kernel, (own and installer.initrd) or rel.initrd,
            (own and installer.iso) or default_iso)


def release_notes(inv: Inventory) -> list[str]:
    """Per release in use: which nodes install it and which netboot files it boots."""
    from .boot import install_method  # boot reads releases

    notes = []
    for name in releases():
        nodes = [n.hostname for n in inv.nodes if node_release(inv, n).name == name
                 and install_method(inv, n) == "autoinstall"
                 and n.profile is None]
        if nodes:
            rel = release(name)
            kernel, initrd, iso = installer_files(inv, rel)
            notes.append(f"Ubuntu {name} ({', '.join(nodes)}): boots {kernel} and {initrd} "
                         f"(casper/ from the ISO) and fetches {iso} into RAM "
                         f"(~{rel.netboot_ram_mib / 1024:.1f} GiB needed)")
    return notes
