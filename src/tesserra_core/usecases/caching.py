"""A bounded, expiring cache whose entries carry tags, so that one revocation evicts them all."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from tesserra_core.usecases.single_flight import KeyedLocks

V = TypeVar("V")

# What a cache miss reads: the value, when it expires (monotonic seconds) and the tags that evict it.
Fresh = tuple[V, float, tuple[str, ...]]


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
    _reading: KeyedLocks = field(default_factory=KeyedLocks)

    async def fetch(self, key: str, now: float, read: Callable[[], Awaitable[Fresh[V]]]) -> V:
        """The value of ``key``: cached, or what ``read`` returns, kept until it expires or a tag of
        its is evicted; not kept at all when an eviction overtook the read (the value read may predate
        the change that evicted). Misses of one key read one at a time and each finds what the one
        before kept: the requests in flight when an entry expires cost one read, not one each."""
        value = self.get(key, now)
        if value is not None:
            return value
        async with self._reading.hold(key):
            value = self.get(key, now)
            if value is not None:
                return value
            read_at = self._evictions
            value, expires, tags = await read()
            self.put(key, value, expires, tags, read_at=read_at)
            return value

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
        evicted since ``read_at`` (the count of evictions when its read began)."""
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
