"""One DNS-name rule (seedbed.inventory.fields): the inventory, dnsmasq.conf and cluster.yml
label prefixes accept and refuse the same names."""

from __future__ import annotations

import pytest

from seedbed.inventory import InventoryError
from seedbed.inventory.fields import DNS_LABEL, DNS_NAME
from seedbed.lan import dnsmasq
from support import inventory_data, inventory_of

GOOD = ["a", "gpu09", "gpu-01", "0node", "a" * 63]
BAD = ["", "a" * 64, "-gpu", "gpu-", "GPU01", "gpu_01", "gpu.01", "gpu 01"]


@pytest.mark.parametrize("name", GOOD + BAD)
def test_a_label_is_one_rule_everywhere(name: str) -> None:
    ok = name in GOOD
    assert bool(DNS_LABEL.fullmatch(name)) is ok
    data = inventory_data()
    data["nodes"][1]["hostname"] = name
    if ok:
        inventory_of(data)
    else:
        with pytest.raises(InventoryError):
            inventory_of(data)
    if name and "." not in name:  # dnsmasq takes dotted names of the same labels
        assert bool(dnsmasq.DNS_NAME.fullmatch(f"{name}.lab.test")) is ok


def test_dotted_names() -> None:
    assert DNS_NAME.fullmatch("lab.test") and DNS_NAME.fullmatch("a.b.c")
    assert not any(DNS_NAME.fullmatch(n) for n in ("lab..test", ".lab", "lab.", "lab.-x"))
