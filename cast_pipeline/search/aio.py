"""One event-loop thread for LanceDB's async API, so a query leg costs one hand-off instead of several.

Why: LanceDB's synchronous ``Table`` runs every call on its own background event loop, and building a
query makes several such calls (the table schema for blob columns, the plan, the batches), each a
round trip between threads competing for the GIL. Measured at 1M rows on 2 cores (session 17, same
process, same index): a full-text leg 6.0 -> 4.1 ms p50 and a graph (IVF_HNSW_SQ) vector leg 12.9 ->
8.5 ms when the same query is built on an ``AsyncTable`` and awaited in one coroutine here. The legs
of one search are submitted together and run concurrently in LanceDB's own (Rust) thread pool.

The loop is a daemon thread started at first use, shared by every index a process opens. Callers stay
synchronous (the CLI, notebooks, the service's worker threads): :func:`submit` returns a
``concurrent.futures.Future``, :func:`run` waits for the result.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_owner = 0  # the process that started _loop: a forked child inherits the variable but not the thread
_lock = threading.Lock()


def _event_loop() -> asyncio.AbstractEventLoop:
    global _loop, _owner
    with _lock:
        if _loop is None or _loop.is_closed() or _owner != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="lancedb-queries", daemon=True).start()
            _loop, _owner = loop, os.getpid()
        return _loop


def submit(coroutine: Coroutine[Any, Any, T]) -> Future[T]:
    """Start ``coroutine`` on the query loop; its future can be waited on from any thread."""
    return asyncio.run_coroutine_threadsafe(coroutine, _event_loop())


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on the query loop and return its result (its exception is raised here)."""
    return submit(coroutine).result()
