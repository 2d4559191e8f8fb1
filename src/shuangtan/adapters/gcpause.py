"""Pause Python's cyclic garbage collector while a batch of readings is decoded and stored.

A batch makes hundreds of thousands of small objects (decoded JSON, ``RawReading`` tuples)
that hold no reference cycles; reference counting frees them. The cyclic collector, triggered
every few hundred allocations, walks them again and again for nothing: measured on the MQTT
ingest path, 20–30 % of the time of a 200,000-reading run. Within :func:`gc_paused` the
collector is off; it is switched back on when the last concurrent batch of the process ends
(request threads of the server may overlap), and only if it was on to begin with. Garbage with
cycles made meanwhile is collected at the next automatic pass after that; while batches keep
overlapping, a batch that ends runs a collection at least every :data:`MAX_PAUSE_S`.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]

#: Longest stretch without a collection while batches keep overlapping (a server under a
#: steady stream of requests is never out of every pause): then the batch that ends collects. [s]
MAX_PAUSE_S = 5.0

_lock = threading.Lock()
_depth = 0
_was_enabled = False
_since = 0.0


@contextmanager
def gc_paused() -> Iterator[None]:
    """Run the block with the cyclic garbage collector off (reentrant, thread-safe)."""
    global _depth, _was_enabled, _since  # process-wide by nature, as gc itself is
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            _since = time.monotonic()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        collect = False
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
            elif _depth > 0 and _was_enabled and time.monotonic() - _since > MAX_PAUSE_S:
                _since = time.monotonic()
                collect = True
        if collect:
            gc.collect()
