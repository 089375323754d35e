"""Fixtures shared by every suite (helpers live in support.py), and the suite's split
across pytest-xdist workers (`make test` runs `pytest -n 2 --dist loadgroup`)."""

from pathlib import Path

import pytest

from support import (  # noqa: F401 - pytest finds fixtures by name
    admin_headers,
    client,
    clock,
    make_service,
    service,
)

TESTS = Path(__file__).parent
# The QEMU guests keep a core busy each and share session fixtures and caches (the test
# image, signed GRUB): one worker runs them one after another, with the hostile-LAN tests,
# whose floods were measured on a machine doing nothing else. The other suites run beside
# them on the other worker, each folder in one worker (their session fixtures built once).
SERIAL_WITH_GUESTS = {"boot", "discovery", "hostile", "image", "lan", "power", "secureboot"}
GUEST_FILES = {"test_rke2_first_boot.py", "test_real_hardware.py"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = item.path.relative_to(TESTS)
        folder = path.parts[0] if len(path.parts) > 1 else "top"
        guests = folder in SERIAL_WITH_GUESTS or path.name in GUEST_FILES
        item.add_marker(pytest.mark.xdist_group("guests" if guests else folder))
