"""One rule for lists whose entries may appear once: node roles (the inventory's and
cluster.yml's) and LDAP login methods (tests/lan/test_ldap_logins.py) say so alike."""

from __future__ import annotations

import pydantic
import pytest

from seedbed.cluster.clusteryml import RkeNode
from seedbed.inventory import InventoryError
from support import inventory_data, inventory_of


def test_a_node_role_twice_is_refused_in_the_inventory_and_in_cluster_yml() -> None:
    data = inventory_data()
    data["nodes"][1]["roles"] = ["worker", "worker"]
    with pytest.raises(InventoryError, match="a role is listed twice"):
        inventory_of(data)
    node = {"address": "10.20.0.22", "user": "labadmin", "role": ["worker", "worker"]}
    with pytest.raises(pydantic.ValidationError, match="a role is listed twice"):
        RkeNode.model_validate(node)
    assert RkeNode.model_validate({**node, "role": ["etcd", "worker"]}).role == ["etcd", "worker"]
    data["nodes"][1]["roles"] = ["etcd", "worker"]
    assert inventory_of(data).nodes[1].roles == ["etcd", "worker"]
