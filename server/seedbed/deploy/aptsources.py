"""The Debian mirror this machine's apt already uses: the one it is known to reach.

seedbed names no package mirror of its own; a build takes the mirror from a flag or,
by default, from the NAS's apt sources (one-line `.list` files and deb822 `.sources`).
"""

from __future__ import annotations

import glob
import re
from pathlib import Path

APT_SOURCES = ("/etc/apt/sources.list", "/etc/apt/sources.list.d/*.list",
               "/etc/apt/sources.list.d/*.sources")
# The archive root: a URL whose last path element is `debian` (not debian-security).
_DEBIAN_URL = re.compile(r"(?:^|\s)((?:https?|file)://\S+/debian)/?(?=\s|$)", re.MULTILINE)


class NoMirror(LookupError):
    """No Debian mirror in the apt sources and none given."""


def debian_mirror(patterns: tuple[str, ...] = APT_SOURCES) -> str:
    """The first Debian archive URL in the apt sources, comments skipped."""
    for pattern in patterns:
        for name in sorted(glob.glob(pattern)):
            try:
                text = Path(name).read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            lines = (line.split("#", 1)[0] for line in text.splitlines())
            found = _DEBIAN_URL.search("\n".join(lines))
            if found:
                return found.group(1)
    raise NoMirror("no Debian mirror in " + ", ".join(patterns) +
                   ": give one with --mirror (or DEBIAN_MIRROR= for make)")
