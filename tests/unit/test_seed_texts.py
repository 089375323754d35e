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


def _counting_renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    rendered: list[str] = []
    render = seeds.user_data

    def counted(inv, node, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        rendered.append(node.hostname)
        return render(inv, node, *args, **kwargs)

    monkeypatch.setattr(seeds, "user_data", counted)
    return rendered


def test_warm_renders_each_node_once_ahead_of_its_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    rendered = _counting_renders(monkeypatch)
    inv = inventory_of(inventory_data())
    texts = SeedTexts()
    assert texts.warm(inv, BASE, lambda node: ("autoinstall", None, None), lambda: inv) \
        == len(inv.nodes)
    assert rendered == [n.hostname for n in inv.nodes]
    for node in inv.nodes:  # a request with a real token renders nothing now
        urls = seeds.SeedUrls(BASE, new_token())
        assert urls.token in texts.user_data(inv, node, urls, "autoinstall", None)
    assert len(rendered) == len(inv.nodes)


def test_warm_stops_for_a_newer_inventory_and_goes_past_a_failing_node(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    rendered = _counting_renders(monkeypatch)
    inv, newer = inventory_of(inventory_data()), inventory_of(inventory_data())
    texts = SeedTexts()
    taken = [inv]
    first, second = inv.nodes[0].hostname, inv.nodes[1].hostname

    def render_args(node):  # noqa: ANN001, ANN202
        if node.hostname == first:
            raise RuntimeError("no cluster token yet")
        if node.hostname == second:
            taken.append(newer)  # an edit is taken meanwhile: what follows is not rendered
        return "autoinstall", None, None

    assert texts.warm(inv, BASE, render_args, lambda: taken[-1]) == 1
    assert rendered == [second]
    assert f"{first}: user-data not rendered ahead: no cluster token yet" in caplog.text
