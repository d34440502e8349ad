"""Ordered parallel calls over a stream, with a bounded number in flight."""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Iterator


def ordered_map(
    fn: Callable, items: Iterable, workers: int, ahead: int, thread_name: str
) -> Iterator:
    """``fn(item)`` for each item, computed by ``workers`` threads, yielded in input order.

    At most ``ahead`` calls are submitted and not yet yielded, so memory stays bounded however
    long the stream. Closing the generator cancels what has not started and joins the threads.

    Example:
        >>> list(ordered_map(abs, [-1, 2, -3], workers=2, ahead=4, thread_name="t"))
        [1, 2, 3]
    """
    # here, not at the top: `import axonal` stays light
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(workers, thread_name_prefix=thread_name)
    pending: collections.deque = collections.deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)
