"""A node's user-data, rendered once per inventory and filled in with each install's token.

Rendering user-data (building the data, then YAML) takes milliseconds; fifty machines
booting at once would wait on each other for it. What changes from one install of a
node to the next is only the token inside its URLs, so the text is rendered with a
stand-in of the token's exact length and alphabet, and the token replaces it when
served. Every character of a token is plain in YAML, JSON and shell words alike, so
no quoting differs: the result is the text rendering with the token would give
(tests/unit/test_seed_texts.py compares them). Each rendering is checked against the
node's release's autoinstall schema before it is served (seedbed.checks).

The service renders every node's text ahead (`warm`) when it starts and whenever it takes a
new inventory, on a thread of its own: fifty machines powered on together after an edit then
wait for none of it (each rendering is milliseconds of the one interpreter they share).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from . import seeds
from .checks import autoinstall_problems
from .errors import Conflict
from .inventory import Inventory, Node
from .releases import node_release
from .tokens import looks_like_token

log = logging.getLogger("seedbed.seeds")

# What a node's user-data is rendered with besides the node: its install method, seedbed's
# public key and its cluster token (seedbed.seeds.user_data).
RenderArgs = tuple[str, "str | None", "str | None"]

# 43 characters of the token alphabet that no real URL or seed text contains.
STAND_IN = "SEEDBEDxTOKENxSTANDxINxxxxxxxxxxxxxxxxxxxxx"
assert looks_like_token(STAND_IN)


class SeedTexts:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inventory: Inventory | None = None
        self._texts: dict[tuple[str, str, str, str | None, str | None], str] = {}

    def user_data(self, inv: Inventory, node: Node, urls: seeds.SeedUrls, method: str,
                  service_key: str | None, cluster_token: str | None = None) -> str:
        if not looks_like_token(urls.token):  # previews and tests use other stand-ins
            return _checked(seeds.user_data(inv, node, urls, method, service_key, cluster_token),
                            inv, node, method)
        # The cluster token changes once (bare secret, then its K10 form): it is in the key.
        key = (node.hostname, urls.base, method, service_key, cluster_token)
        with self._lock:
            if self._inventory is not inv:  # a reload or an edit: every text may differ
                self._inventory, self._texts = inv, {}
            text = self._texts.get(key)
        if text is None:
            text = _checked(seeds.user_data(inv, node, seeds.SeedUrls(urls.base, STAND_IN), method,
                                            service_key, cluster_token), inv, node, method)
            with self._lock:
                if self._inventory is inv:
                    self._texts[key] = text
        return text.replace(STAND_IN, urls.token)

    def warm(self, inv: Inventory, base: str, render_args: Callable[[Node], RenderArgs],
             current: Callable[[], Inventory]) -> int:
        """Render ahead every node's user-data as serving `inv` will ask for it; stop once
        `current()` is another inventory. A rendering that fails is logged and left to its
        request, which answers the error. Returns how many were rendered."""
        started, done = time.perf_counter(), 0
        for node in inv.nodes:
            if current() is not inv:
                log.info("user-data rendering ahead stopped: a newer inventory was taken")
                return done
            try:
                self.user_data(inv, node, seeds.SeedUrls(base, STAND_IN), *render_args(node))
                done += 1
            except Exception as exc:  # noqa: BLE001 - the request will say it again, answered
                log.warning("%s: user-data not rendered ahead: %s", node.hostname, exc)
        log.info("user-data of %d of %d nodes rendered ahead in %.0f ms", done, len(inv.nodes),
                 (time.perf_counter() - started) * 1000)
        return done


def _checked(text: str, inv: Inventory, node: Node, method: str) -> str:
    """The text, once it passes the node's release's autoinstall checks (once per rendering);
    else a Conflict naming the problems (the web answers 409, the CLI prints it)."""
    if method == "autoinstall":
        problems = autoinstall_problems(text, node_release(inv, node).name)
        if problems:
            raise Conflict(f"{node.hostname}'s user-data fails the {node_release(inv, node).name} "
                                 f"installer's checks: {'; '.join(problems)}")
    return text
