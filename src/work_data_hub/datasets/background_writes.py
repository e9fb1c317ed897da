"""Files a save hands to background threads, written while the run goes on, waited for by domain.

The marked rejects workbooks are read by people, not by the run: their dataset hands them here
and returns, and they are written two at a time (the copy is mostly inflating and deflating,
which run without the GIL) while the run plans and loads. Whoever needs them whole waits for them:

- the load of their domain, before its ``COMMIT`` and at the end of its save
  (:class:`~work_data_hub.datasets.postgres_load_dataset.PostgresLoadDataset`), so a load never
  commits beside a marked workbook that failed;
- the run report's hooks at the end of the run, every domain (a run without the load's node,
  ``kedro run --nodes``, included), before the report is written;
- the interpreter's exit, for writes nobody waited for: they are finished, and their failures
  logged.

A file that fails is raised, in file order, to whoever waits for its domain; its domain's files
not started yet are not started. Each job leaves nothing of a file it failed to write.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

# Files written at a time (the machine this runs on has at least two cores).
WRITES_AT_ONCE = 2


@dataclass(frozen=True)
class Written:
    """What one domain's background writes did.

    Args:
        domain: The domain whose files they are.
        seconds: From the hand-off to the last file written (or failed).
        waited: How long the run stood still waiting for them.
        error: The first failure, in file order; None when every file was written.
    """

    domain: str
    seconds: float
    waited: float
    error: BaseException | None


@dataclass
class _Pending:
    domain: str
    started: float
    finished: float
    futures: list[Future[None]] = field(default_factory=list)


_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pending: dict[str, _Pending] = {}
# Waited for, kept for the run report until wait_all collects them.
_written: dict[str, Written] = {}


def start(domain: str, jobs: Sequence[Callable[[], None]]) -> None:
    """Run ``jobs`` (one file each, in file order) in the background as ``domain``'s writes.

    An earlier hand-off of the domain that nobody waited for is waited for first.

    Raises:
        Exception: The earlier hand-off of the domain failed (its first failure).
    """
    global _pool  # noqa: PLW0603  (one pool per process, made on first use)
    wait(domain)
    if not jobs:
        return
    pending = _Pending(domain, started=time.perf_counter(), finished=time.perf_counter())
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(WRITES_AT_ONCE, thread_name_prefix="background_writes")
        pending.futures = [_pool.submit(job) for job in jobs]
        _pending[domain] = pending
    for future in pending.futures:
        future.add_done_callback(lambda done: _finished(pending, done))


def _finished(pending: _Pending, done: Future[None]) -> None:
    with _lock:
        pending.finished = max(pending.finished, time.perf_counter())
    if not done.cancelled() and done.exception() is not None:
        # The domain fails with this file: its files not started yet are not written.
        for future in pending.futures:
            future.cancel()


def wait(domain: str) -> Written | None:
    """Wait until ``domain``'s writes are done; None when none was handed off.

    Raises:
        Exception: The first of its files that failed, in file order.
    """
    with _lock:
        pending = _pending.pop(domain, None)
    if pending is None:
        return None
    written = _outcome(pending)
    with _lock:
        _written[domain] = written
    if written.error is not None:
        raise written.error
    return written


def _outcome(pending: _Pending) -> Written:
    waiting = time.perf_counter()
    concurrent.futures.wait(pending.futures)
    waited = time.perf_counter() - waiting
    errors = (f.exception() for f in pending.futures if not f.cancelled())
    return Written(
        pending.domain,
        seconds=pending.finished - pending.started,
        waited=waited,
        error=next((error for error in errors if error is not None), None),
    )


def wait_all() -> list[Written]:
    """Wait for every domain's writes; what each domain's did since the last call, failures
    included (nothing is raised). No worker thread is left running afterwards."""
    global _pool
    with _lock:
        pending = list(_pending.values())
        _pending.clear()
    outcomes = [_outcome(each) for each in pending]
    with _lock:
        _written.update((written.domain, written) for written in outcomes)
        collected = list(_written.values())
        _written.clear()
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True)
    return collected


def _report_unwaited() -> None:
    """At exit (once the pool's threads have finished their files): say what nobody waited for
    and failed."""
    with _lock:
        domains = list(_pending)
    for domain in domains:
        try:
            wait(domain)
        except Exception as exc:
            logger.error("%s: %s", domain, exc)


atexit.register(_report_unwaited)
