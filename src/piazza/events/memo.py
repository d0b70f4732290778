"""A per-process memo of texts, bounded by the characters it holds rather than by its entries.

Feeds write the same events on every build, and some of what each event costs (its description as
plain text, its VEVENT) depends only on the event's own fields. An entry-counted cache either holds
too few events for a large agenda (a build of 20,000 events through a cache of 512 found none of them
again) or too much text when descriptions are long; this one holds as many entries as fit in
`max_chars`, and starts over when full, which for a build that walks the agenda in order is as good as
evicting the oldest, and costs nothing per hit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TextMemo(Generic[K, V]):
    def __init__(self, compute: Callable[[K], V], *, max_chars: int) -> None:
        self._compute = compute
        self.max_chars = max_chars
        self._entries: dict[K, V] = {}
        self._chars = 0
        self._lock = threading.Lock()  # builds run in several threads of the pool

    def get(self, key: K, chars: int) -> V:
        """`compute(key)`, remembered; `chars` is what the entry holds (its key's and value's text)."""
        try:
            return self._entries[key]
        except KeyError:
            pass
        value = self._compute(key)
        if chars <= self.max_chars // 16:  # a few huge texts must not push everything else out
            with self._lock:
                if self._chars + chars > self.max_chars:
                    self._entries.clear()
                    self._chars = 0
                self._entries[key] = value
                self._chars += chars
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._chars = 0

    def __len__(self) -> int:
        return len(self._entries)
