"""A small bounded cache, shared by threads: the answers a loaded index version has given.

:class:`LruCache` keeps at most ``size`` values and drops the least recently used first, so
its memory is bounded whatever is asked. It lives on a :class:`~chatbot.answering.Chatbot`,
and the keys name the index version, so a re-index (a new version, a new chatbot in
:class:`~chatbot.library.Service`) never serves an answer of the old articles.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

V = TypeVar("V")


@dataclass(frozen=True)
class CacheStats:
    """How a cache has done since it was made."""

    size: int
    entries: int
    hits: int
    misses: int


class LruCache(Generic[V]):
    """At most ``size`` values by key, least recently used dropped first (``size=0``: none
    kept, every lookup a miss).

    Example:
        >>> cache: LruCache[int] = LruCache(2)
        >>> cache.get_or_make("a", lambda: 1), cache.get_or_make("a", lambda: 2)
        (1, 1)
    """

    def __init__(self, size: int) -> None:
        if size < 0:
            raise ValueError(f"a cache size must be >= 0, not {size}")
        self.size = size
        self._values: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def get(self, key: Hashable) -> tuple[bool, V | None]:
        """``(True, value)`` for a kept key (now the most recently used), else
        ``(False, None)``; a kept value may itself be ``None``."""
        with self._lock:
            if key not in self._values:
                self._misses += 1
                return False, None
            self._values.move_to_end(key)
            self._hits += 1
            return True, self._values[key]

    def put(self, key: Hashable, value: V) -> None:
        """Keep ``value`` for ``key``, dropping the least recently used beyond ``size``."""
        if self.size == 0:
            return
        with self._lock:
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self.size:
                self._values.popitem(last=False)

    def get_or_make(self, key: Hashable, make: Callable[[], V]) -> V:
        """The value kept for ``key``, else ``make()``, kept. Two threads missing the same
        key at once both make it (the work is pure); the lock is never held while making."""
        found, value = self.get(key)
        if found:
            return value  # type: ignore[return-value]
        made = make()
        self.put(key, made)
        return made

    def __contains__(self, key: Hashable) -> bool:
        """Whether ``key`` is kept (not counted as a hit or a miss, not made more recent)."""
        with self._lock:
            return key in self._values

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

    def __len__(self) -> int:
        return len(self._values)

    @property
    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self.size, len(self._values), self._hits, self._misses)
