"""Text renderings of boot decisions: iPXE and GRUB scripts from the package's templates."""

from __future__ import annotations

import re
from functools import cache, lru_cache
from typing import Literal
from urllib.parse import urlsplit

import jinja2

from .boot import Decision, grub_fetch_problem

_GRUB_PLAIN = re.compile(r"^[A-Za-z0-9_./:=,+@%()-]+$")


def grub_quote(word: str) -> str:
    """Quote one word for grub.cfg: `;`, `$`, spaces and quotes are GRUB syntax."""
    if _GRUB_PLAIN.fullmatch(word):
        return word
    return "'" + word.replace("'", "'\\''") + "'"


def grub_path(url: str, base_url: str) -> str:
    """GRUB reads HTTP through a device: http://host/p becomes (http,host)/p.

    Upstream GRUB before 2.12 always connects to port 80 (`(http,host:8080)` names a host
    called `host:8080`; Debian 12's 2.06 carries a patch that parses the port), so
    seedbed's own URLs lose their port: `serve --grub-port 80` answers there. Other hosts
    keep theirs, which only GRUB 2.12 (or a patched build) follows (validate warns).
    """
    problem = grub_fetch_problem(url)
    if problem:  # decide() refuses such installs first; this guards the template
        raise ValueError(problem)
    parts = urlsplit(url)
    netloc = parts.hostname if parts.netloc == urlsplit(base_url).netloc else parts.netloc
    return grub_quote(f"(http,{netloc}){parts.path or '/'}")


def grub_tftp_path(url: str, base_url: str) -> str:
    """A file of seedbed's files folder as the signed GRUB reads it over TFTP (no http in
    GRUB 2.06): seedbed links each such file under `files/` in its TFTP root."""
    prefix = f"{base_url}/files/"
    if not url.startswith(prefix):
        raise ValueError(f"{url} is not in seedbed's files folder: GRUB without http reads TFTP only")
    return grub_quote(f"/files/{url.removeprefix(prefix)}")


def grub_path_with_port(url: str, base_url: str) -> str:
    """GRUB >= 2.12 parses `(http,host:port)`: seedbed's own URLs keep their port."""
    return grub_path(url, "")


# How GRUB reaches the kernel and initrd a config names (see GrubFetch).
_GRUB_PATHS = {"http": grub_path, "http-port": grub_path_with_port, "tftp": grub_tftp_path}
GrubFetch = Literal["http", "http-port", "tftp"]


@cache
def _env(grub_fetch: GrubFetch = "http") -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("seedbed", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        auto_reload=False,  # the package's templates do not change under a running service
        autoescape=False,  # noqa: S701 - boot scripts, not HTML; values are validated
    )
    env.filters["grub_quote"] = grub_quote
    env.filters["grub_path"] = _GRUB_PATHS[grub_fetch]
    return env


@lru_cache(maxsize=16)  # one text per base URL: every machine's first request
def chain_script(base_url: str) -> str:
    return _env().get_template("boot.ipxe.j2").render(base_url=base_url)


def ipxe_script(decision: Decision) -> str:
    return _env().get_template(f"{decision.action}.ipxe.j2").render(decision=decision)


def grub_config(decision: Decision, base_url: str, grub_fetch: GrubFetch = "http") -> str:
    return _env(grub_fetch).get_template(f"{decision.action}.grub.j2").render(decision=decision,
                                                                              base_url=base_url)


def grub_bootstrap(config_url: str | None) -> str:
    """The signed GRUB's first grub.cfg: on to this machine's own config, over HTTP from
    `config_url` (seedbed's /grub, GRUB >= 2.12) or else the per-MAC file beside it."""
    return _env().get_template("bootstrap.grub.j2").render(config_url=config_url)
