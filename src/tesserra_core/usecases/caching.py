"""A bounded, expiring cache whose entries carry tags, so that one revocation evicts them all."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

V = TypeVar("V")


@dataclass(slots=True)
class _Entry(Generic[V]):
    value: V
    expires: float
    tags: tuple[str, ...]


@dataclass
class TaggedCache(Generic[V]):
    """Values by key until they expire or one of their tags is evicted. Bounded, oldest out first."""

    max_entries: int = 100_000
    _entries: OrderedDict[str, _Entry[V]] = field(default_factory=OrderedDict)
    _by_tag: dict[str, set[str]] = field(default_factory=dict)
    _evictions: int = 0

    def stamp(self) -> int:
        """Taken before reading what will be ``put``: a put whose read an eviction may have overtaken is
        dropped (the value read may predate the change that evicted)."""
        return self._evictions

    def get(self, key: str, now: float) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires <= now:
            self._drop(key)
            return None
        return entry.value

    def put(self, key: str, value: V, expires: float, tags: tuple[str, ...], *, read_at: int | None = None) -> None:
        """Keep ``value`` until ``expires`` or one of ``tags`` is evicted; not at all when anything was
        evicted since ``read_at`` (a ``stamp``)."""
        if read_at is not None and read_at != self._evictions:
            return
        self._drop(key)
        while len(self._entries) >= self.max_entries:
            self._drop(next(iter(self._entries)))
        self._entries[key] = _Entry(value, expires, tags)
        for tag in tags:
            self._by_tag.setdefault(tag, set()).add(key)

    def evict(self, tag: str) -> None:
        self._evictions += 1
        for key in self._by_tag.pop(tag, set()):
            self._drop(key)

    def clear(self) -> None:
        self._evictions += 1
        self._entries.clear()
        self._by_tag.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        for tag in entry.tags:
            holders = self._by_tag.get(tag)
            if holders is not None:
                holders.discard(key)
                if not holders:
                    del self._by_tag[tag]


@runtime_checkable
class Evicts(Protocol):
    """Anything holding entries a revocation tag can drop (a TaggedCache, a port's own cache)."""

    def evict(self, tag: str) -> None: ...


@dataclass
class LateEvicts:
    """An ``Evicts`` built after the ``CacheSet`` it belongs to (one that itself publishes revocations,
    so needs the set first): a no-op until ``target`` is set."""

    target: Evicts | None = None

    def evict(self, tag: str) -> None:
        if self.target is not None:
            self.target.evict(tag)


@dataclass(frozen=True)
class CacheSet:
    """Every tagged cache of a worker: what a revocation must reach."""

    caches: tuple[TaggedCache[Any] | Evicts, ...]

    def evict(self, tags: Iterable[str]) -> None:
        for tag in tags:
            for cache in self.caches:
                cache.evict(tag)
