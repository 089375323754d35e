"""Fixtures shared by every suite (helpers live in support.py), and the suite's split
across pytest-xdist workers (`make test` runs `pytest -n 2`)."""

from pathlib import Path

import pytest

from support import (  # noqa: F401 - pytest finds fixtures by name
    admin_headers,
    client,
    clock,
    make_service,
    service,
)

# The QEMU guests keep a core busy each and share session fixtures and caches (the test
# image, signed GRUB): one worker runs them one after another, with the hostile-LAN tests,
# whose floods were measured on a machine doing nothing else. The other suites run beside
# them on the other worker, each folder in one worker (their session fixtures built once).
SERIAL_WITH_GUESTS = {"boot", "discovery", "hostile", "image", "lan", "power", "secureboot"}
GUEST_FILES = {"test_rke2_first_boot.py", "test_real_hardware.py"}


def suite_group(nodeid: str) -> str:
    """The worker group of a test: "guests", or its folder under tests/."""
    parts = Path(nodeid.split("::")[0]).parts
    folder = parts[1] if len(parts) > 2 else "top"
    return "guests" if folder in SERIAL_WITH_GUESTS or parts[-1] in GUEST_FILES else folder


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """Whole groups to workers (xdist's own loadgroup mark is not honoured under pytest 9)."""
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return suite_group(nodeid)

    return GroupScheduling(config, log)
