"""The log-writing thread of `seedbed serve`: every record, in order, batched per stream."""

from __future__ import annotations

import io
import logging
import logging.handlers
import queue
import threading

from seedbed.httpserver import LogWriter

RECORDS_PER_THREAD = 500


class _CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def _record(name: str, level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, None, None)


def test_every_record_is_written_in_order_with_fewer_writes_than_lines() -> None:
    records: queue.SimpleQueue[logging.LogRecord | None] = queue.SimpleQueue()
    stream = _CountingStream()
    to_stream = logging.StreamHandler(stream)
    to_stream.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    warnings = logging.handlers.BufferingHandler(capacity=10**6)  # not a plain stream
    warnings.setLevel(logging.WARNING)
    writer = LogWriter(records, [to_stream, warnings])

    def produce(n: int) -> None:
        for i in range(RECORDS_PER_THREAD):
            level = logging.WARNING if i % 100 == 0 else logging.INFO
            records.put(_record("seedbed.http", level, f"t{n} {i}"))

    producers = [threading.Thread(target=produce, args=(n,)) for n in range(4)]
    for t in producers:
        t.start()
    for t in producers:
        t.join(10)
    writer.start()  # everything queued already: it goes out in batches
    writer.stop()  # returns once what was queued is written
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4 * RECORDS_PER_THREAD
    for n in range(4):
        mine = [line.split()[-1] for line in lines if line.split()[1] == f"t{n}"]
        assert mine == [str(i) for i in range(RECORDS_PER_THREAD)], f"thread {n} out of order"
    assert stream.writes == -(-len(lines) // LogWriter.BATCH), "one write per batch"
    assert sorted(r.getMessage() for r in warnings.buffer) == \
        sorted(f"t{n} {i}" for n in range(4) for i in range(0, RECORDS_PER_THREAD, 100))


def test_records_arriving_one_by_one_are_gathered_into_one_write(monkeypatch) -> None:  # noqa: ANN001
    # A writer woken for each record cost request threads a thread switch per line.
    monkeypatch.setattr(LogWriter, "GATHER_SECONDS", 0.5)
    records: queue.SimpleQueue[logging.LogRecord | None] = queue.SimpleQueue()
    stream = _CountingStream()
    writer = LogWriter(records, [logging.StreamHandler(stream)])
    writer.start()  # waiting for the first record
    pause = threading.Event()
    for i in range(10):
        records.put(_record("seedbed.http", logging.INFO, f"line {i}"))
        pause.wait(0.005)  # as requests come: one by one
    writer.stop()
    assert stream.getvalue().splitlines() == [f"line {i}" for i in range(10)]
    assert stream.writes <= 2, f"{stream.writes} writes for 10 lines"
