"""user-data rendered once per node and filled with each token equals rendering it per token."""

from __future__ import annotations

import random
import string

import pytest

from seedbed import seeds
from seedbed.inventory import load_inventory
from seedbed.resources import default_inventory
from seedbed.seed_texts import SeedTexts
from seedbed.tokens import new_token
from support import inventory_data, inventory_of

BASE = "http://10.20.0.5:8080"
ALPHABET = string.ascii_letters + string.digits + "-_"
# Shapes a token may take that YAML, JSON or a shell could read differently.
AWKWARD_TOKENS = ["-" * 43, "_" * 43, "1" * 43, "0x" + "1" * 41, "1e" + "9" * 41,
                  "-1" + "0" * 41, "True" + "e" * 39, "null" + "x" * 39]


def inventories():  # noqa: ANN201
    hostile = inventory_data()
    hostile["nodes"][0]["disk"] = {"model": "a: b\n- c #d", "serial": "S'; rm -rf / #"}
    yield load_inventory(default_inventory()).inventory
    yield inventory_of(inventory_data())
    yield inventory_of(hostile)


@pytest.mark.parametrize("method", ["autoinstall", "cloud-config"])
def test_filled_in_text_equals_a_fresh_rendering(method: str) -> None:
    rng = random.Random(10)
    tokens = AWKWARD_TOKENS + [new_token() for _ in range(20)] + \
        ["".join(rng.choice(ALPHABET) for _ in range(43)) for _ in range(20)]
    texts = SeedTexts()
    compared = 0
    for inv in inventories():
        for node in inv.nodes:
            for token in tokens:
                urls = seeds.SeedUrls(BASE, token)
                expected = seeds.user_data(inv, node, urls, method, "ssh-ed25519 AAAA seedbed")
                assert texts.user_data(inv, node, urls, method, "ssh-ed25519 AAAA seedbed") \
                    == expected, f"{node.hostname} token {token!r}"
                compared += 1
    assert compared >= 6 * len(tokens)


def test_a_new_inventory_is_rendered_anew() -> None:
    texts = SeedTexts()
    data = inventory_data()
    first = inventory_of(data)
    data["site"]["timezone"] = "Europe/Berlin"
    second = inventory_of(data)
    urls = seeds.SeedUrls(BASE, new_token())
    before = texts.user_data(first, first.nodes[0], urls, "autoinstall", None)
    after = texts.user_data(second, second.nodes[0], urls, "autoinstall", None)
    assert "Europe/Berlin" not in before and "Europe/Berlin" in after
