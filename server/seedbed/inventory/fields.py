"""Field checks shared by the inventory sections: MACs, URLs, paths, boot-line safety."""

from __future__ import annotations

import ipaddress
import re

from pydantic import BaseModel, ConfigDict

_MAC_HEX = re.compile(r"^[0-9a-f]{12}$")




# An RFC 1123 label in lower case (a host name, each part of a domain; 63 characters at
# most), and dotted names of them. Stated once: the inventory, dnsmasq.conf and
# cluster.yml's label prefixes all check names with these (fullmatch).
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
DNS_LABEL = re.compile(_LABEL)
DNS_NAME = re.compile(rf"{_LABEL}(\.{_LABEL})*")


# Values that reach iPXE, GRUB or a kernel command line: those formats have no
# quoting that survives every consumer, so only characters none of them treats
# specially are let through: no $ & | ; # ' " \\ ` < > { } [ ] ( ) * ! ^, no spaces in a word.
BOOT_WORD_CHARS = "A-Za-z0-9 and _.,:=+@%/~?-"
_BOOT_SAFE = re.compile(r"^[A-Za-z0-9_.,:=+@%/~?-]+$")


_ABS_PATH = re.compile(r"(/[A-Za-z0-9_.+@-]+)+")


def listed_once(values: list[str], what: str) -> list[str]:
    """The list as it is, or ValueError naming `what` when an entry is repeated."""
    if len(set(values)) != len(values):
        raise ValueError(f"{what} is listed twice")
    return values


def normalize_mac(value: str) -> str:
    """Return a MAC in lower-case colon form; accept colon, hyphen and bare-hex forms."""
    raw = value.strip().lower()
    if re.fullmatch(r"([0-9a-f]{2}[:-]){5}[0-9a-f]{2}", raw):
        seps = {raw[i] for i in range(2, 17, 3)}
        if len(seps) != 1:
            raise ValueError(f"malformed MAC {value!r}: mixed separators")
        raw = raw.replace(":", "").replace("-", "")
    if not _MAC_HEX.fullmatch(raw):
        raise ValueError(f"malformed MAC {value!r}: expected aa:bb:cc:dd:ee:ff")
    return ":".join(raw[i : i + 2] for i in range(0, 12, 2))


def boot_safe(value: str, what: str) -> str:
    """Space-separated words for a kernel command line, each made of BOOT_WORD_CHARS."""
    if any(c in value for c in "\n\r\t"):
        raise ValueError(f"{what} must be one line")
    for token in value.split(" "):
        if token and not _BOOT_SAFE.fullmatch(token):
            raise ValueError(f"{what} contains characters unsafe on a boot command line: "
                             f"{token!r} (allowed: {BOOT_WORD_CHARS})")
    return value


def boot_path(value: str, what: str) -> str:
    """A kernel or initrd location: one boot-safe word (a space would start a new argument)."""
    if " " in value.strip():
        raise ValueError(f"{what} must not contain spaces: {value!r}")
    return boot_safe(value, what)


def files_location(value: str, what: str) -> str:
    """A kernel or initrd under the files folder (or a URL), or, for `cmdline`, boot-line words."""
    if what == "cmdline":
        return boot_safe(value, what)
    if ".." in value.split("/"):
        raise ValueError(f"{what} must stay inside the files folder")
    return boot_path(value, what)


def http_url(value: str, what: str, boot_line: bool = True) -> str:
    """An http(s) URL; one that reaches a boot line (boot_line) is also boot_safe."""
    if not re.match(r"^https?://[^/\s]+", value) or any(c.isspace() for c in value):
        raise ValueError(f"{what} must be an http:// or https:// URL without spaces")
    return boot_safe(value, what) if boot_line else no_controls(value, what)


def no_controls(value: str, what: str) -> str:
    if not value or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"{what} must be non-empty, on one line, without control characters")
    return value


def abs_path(value: str, what: str) -> str:
    if not _ABS_PATH.fullmatch(value) or "/../" in f"{value}/" or "/./" in f"{value}/":
        raise ValueError(f"{what} {value!r} is not an absolute path of letters, digits and ._+@-")
    return value


def address_range(text: str) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
    """`a.b.c.d-e.f.g.h` or a CIDR, as (first, last); MetalLB accepts both forms."""
    try:
        if "/" in text:
            net = ipaddress.IPv4Network(text, strict=True)
            return net.network_address, net.broadcast_address
        first, sep, last = text.partition("-")
        start, end = ipaddress.IPv4Address(first.strip()), ipaddress.IPv4Address(last.strip())
    except ValueError as exc:
        raise ValueError(f"{text!r} is not an address range such as 192.168.1.240-192.168.1.250 "
                         f"or a CIDR: {exc}") from None
    if not sep or start > end:
        raise ValueError(f"{text!r}: give first-last with first <= last")
    return start, end


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
