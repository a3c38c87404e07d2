"""Benchmark the gateway's in-process cache against cachetools: ``python bench/caches.py``.

``gateway.lru.LruCache`` is hand-written because every hot answer does several cache hits (the verified
token, the plan, the predicate, the local result); this prints what one hit and one store cost with it
and with cachetools' ``LRUCache`` and ``TLRUCache`` (the types it would otherwise be), in the same run,
and the ratio. Four of the seven caches need per-entry deadlines, which only ``TLRUCache`` offers; the
other three use the same type so that there is one cache to know. cachetools comes with the bench
extra: ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import itertools
import math
import time
import timeit
from collections.abc import Callable

import cachetools

from gateway.lru import LruCache

ENTRIES = 4096
ROUNDS = 7
CALLS = 200_000


def _best_ns(run: Callable[[], object]) -> float:
    """The best of ROUNDS rounds, in nanoseconds per call."""
    return min(timeit.repeat(run, number=CALLS, repeat=ROUNDS)) / CALLS * 1e9


def _hits(get: Callable[[str], object]) -> float:
    keys = itertools.cycle([f"key{i}" for i in range(ENTRIES)])
    return _best_ns(lambda: get(next(keys)))


def main() -> None:
    keys = [f"key{i}" for i in range(ENTRIES)]
    ours: LruCache[str, str] = LruCache(ENTRIES)
    lru: cachetools.LRUCache[str, str] = cachetools.LRUCache(ENTRIES)
    tlru: cachetools.TLRUCache[str, str] = cachetools.TLRUCache(
        ENTRIES, ttu=lambda _key, _value, now: now + 3600, timer=time.monotonic
    )
    for key in keys:
        ours.put(key, key, expires_at=time.monotonic() + 3600)
        lru[key] = key
        tlru[key] = key
    hit = {
        "ours (with a deadline)": _hits(ours.get),
        "cachetools LRUCache": _hits(lru.get),
        "cachetools TLRUCache": _hits(tlru.get),
    }
    fresh = itertools.count()
    store = {
        "ours (with a deadline)": _best_ns(lambda: ours.put(f"new{next(fresh)}", "v", expires_at=math.inf)),
        "cachetools LRUCache": _best_ns(lambda: lru.__setitem__(f"new{next(fresh)}", "v")),
        "cachetools TLRUCache": _best_ns(lambda: tlru.__setitem__(f"new{next(fresh)}", "v")),
    }
    print(f"cachetools {cachetools.__version__}; {ENTRIES} entries; best of {ROUNDS} rounds of {CALLS} calls")
    print(f"  {'nanoseconds per call':<28}{'hit':>8}{'ratio':>8}{'store':>9}{'ratio':>8}")
    base_hit, base_store = hit["ours (with a deadline)"], store["ours (with a deadline)"]
    for name in hit:
        print(
            f"  {name:<28}{hit[name]:>8.0f}{hit[name] / base_hit:>7.2f}x"
            f"{store[name]:>9.0f}{store[name] / base_store:>7.2f}x"
        )


if __name__ == "__main__":
    main()
