"""The query loop LanceDB's async searches run on, shared by every index and every caller thread."""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from cast_pipeline.paths import DataPaths
from cast_pipeline.search import aio
from cast_pipeline.search.query import SearchIndex


def test_a_coroutine_runs_on_one_shared_daemon_thread_and_returns_its_result() -> None:
    async def where() -> threading.Thread:
        return threading.current_thread()

    first, second = aio.run(where()), aio.run(where())
    assert first is second is not threading.current_thread()
    assert first.daemon and first.name == "lancedb-queries"  # never keeps a CLI process alive


def test_an_exception_in_a_coroutine_is_raised_in_the_caller() -> None:
    async def fail() -> None:
        await asyncio.sleep(0)
        raise ValueError("index version gone")

    with pytest.raises(ValueError, match="index version gone"):
        aio.run(fail())


def test_submitted_coroutines_run_concurrently() -> None:
    started = 0

    async def both_must_start() -> None:
        nonlocal started
        started += 1
        while started < 2:  # would never end if the loop ran one coroutine after the other
            await asyncio.sleep(0.001)

    jobs = [aio.submit(both_must_start()) for _ in range(2)]
    assert [job.result(timeout=10) for job in jobs] == [None, None]


def test_a_forked_child_starts_its_own_loop_instead_of_waiting_on_its_parents() -> None:
    aio.run(asyncio.sleep(0))  # the parent's loop thread exists; a fork copies the variable, not the thread
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            aio.submit(asyncio.sleep(0)).result(timeout=20)
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize("mode", ["hybrid", "keyword", "semantic"])
def test_searches_from_many_threads_at_once_find_what_one_search_finds(corpus: DataPaths, mode: str) -> None:
    index = SearchIndex.open(corpus)  # one index shared by the threads, as in the service
    queries = ["why do onions make you cry", "bread", "the history of radio", "sleep"]
    alone = {q: index.search_rows(q, mode=mode) for q in queries}  # type: ignore[arg-type]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda q: (q, index.search_rows(q, mode=mode)), queries * 4))  # type: ignore[arg-type]
    assert all(rows == alone[q] for q, rows in together)
    assert any(alone.values())
