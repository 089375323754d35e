"""Live updates for the console's pages: one Server-Sent Events stream per open page.

The stream says only *that* something changed (a new event, a cluster job's log grew);
the page then fetches its own fragments, so what a fragment shows is always checked by
the same session and rendering as the page. Every stream holds one of waitress's worker
threads while open, so they are counted: at most `console_streams` at once (seedbed
serve adds that many threads to its pool, so the machine-facing endpoints keep theirs).
A stream ends within a poll (limits.CONSOLE_STREAM_POLL_SECONDS) of its browser tab closing
(waitress says so), sends a heartbeat comment every limits.CONSOLE_STREAM_HEARTBEAT_SECONDS
(through proxies that drop quiet connections), and ends after
limits.CONSOLE_STREAM_MAX_SECONDS (EventSource reconnects by itself).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from flask import Blueprint, Flask, Response, current_app, request

from ... import limits
from ...httpserver import ServerLimits
from ...store import Store
from .. import seedbed

bp = Blueprint("live", __name__, url_prefix="/console")


class StreamGate:
    """How many live streams are open, against an explicit limit."""

    def __init__(self, limit: int):
        self.limit = limit
        self.open = 0
        self._lock = threading.Lock()

    def enter(self) -> bool:
        with self._lock:
            if self.open >= self.limit:
                return False
            self.open += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.open -= 1


def news(store: Store) -> tuple[int, ...]:
    """What a page may need to redraw for: the newest event (power jobs record theirs),
    unfinished cluster jobs' logs, and the newest power state read."""
    db = store.read()
    newest = db.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]
    jobs = db.execute("SELECT COALESCE(MAX(id), 0), COALESCE(SUM(length(log)), 0) FROM cluster_jobs"
                      " WHERE state IN ('queued', 'running')").fetchone()
    read = db.execute("SELECT COALESCE(MAX(checked_at), 0) FROM power_status").fetchone()[0]
    return (int(newest), int(jobs[0]), int(jobs[1]), int(read))


def news_mark(found: tuple[int, ...]) -> str:
    return "-".join(map(str, found))


def _events(store: Store, gone: Callable[[], bool], clock: type[time] = time) -> Iterator[str]:
    started = sent = clock.monotonic()
    last = news(store)
    # The page compares this with what it was rendered from (news_mark): a change between the
    # page and its stream, or while the stream reconnected, redraws it at once.
    yield f"retry: 5000\nevent: hello\ndata: {news_mark(last)}\n\n"
    while clock.monotonic() - started < limits.CONSOLE_STREAM_MAX_SECONDS:
        time.sleep(limits.CONSOLE_STREAM_POLL_SECONDS)
        if gone():
            return
        now = news(store)
        if now != last:
            last, sent = now, clock.monotonic()
            yield f"event: changed\ndata: {news_mark(now)}\n\n"
        elif clock.monotonic() - sent >= limits.CONSOLE_STREAM_HEARTBEAT_SECONDS:
            sent = clock.monotonic()
            yield ": heartbeat\n\n"


@bp.get("/live")
def stream() -> Response:
    gate: StreamGate = current_app.extensions["console-streams"]
    if not gate.enter():
        return Response(f"too many live streams open (limit {gate.limit}); pages still work without one\n",
                        503, {"Retry-After": "30"}, mimetype="text/plain")
    # waitress reports a client that went away (httpserver: channel_request_lookahead); any
    # other server finds out at the next heartbeat's write.
    gone = request.environ.get("waitress.client_disconnected") or (lambda: False)
    response = Response(_events(seedbed().store, gone), mimetype="text/event-stream",
                        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    # waitress closes the answer when the client goes (or the stream ends): the slot is freed
    # then, even for a stream that never sent a byte (a generator's finally would not run).
    response.call_on_close(gate.leave)
    return response


def configure(app: Flask) -> None:
    app.extensions["console-streams"] = StreamGate(ServerLimits().console_streams)
    app.context_processor(lambda: {"news_mark": news_mark(news(seedbed().store))})
