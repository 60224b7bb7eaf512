"""Answers generated in the server, detached from the request that asked for them.

An answer runs as a task of the ``AnswerBoard``; every event is stored (one transaction each) before
anyone sees it, so a viewer who comes late or reconnects reads the stored events and then follows the
live ones: every viewer sees the same sequence, byte for byte. The last event (``done``) is stored in
the same transaction as the final message, so a stored message is never ``streaming`` with a ``done``.
Cancelling an answer cancels its task (the provider's stream is closed at once) and ends the message
``cancelled`` with the text streamed so far; a server stopping ends its answers ``interrupted``, and
one that died is repaired at the next start (``RepairAnswers``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from tesserra_core.domain.chat_streams import EventName, StreamEvent, partial_text
from tesserra_core.domain.conversations import GENERATING, ApprovalStatus, Message, MessageStatus
from tesserra_core.errors import TesserraError
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.system import Clock
from tesserra_core.usecases.conversations import MessageView

log = logging.getLogger(__name__)

_encode = msgspec.json.Encoder().encode


def encode_data(data: Any) -> str:
    return _encode(data).decode()


@dataclass(eq=False)
class LiveAnswer:
    """One answer being generated in this process: its events so far, and how it ended."""

    tenant_id: str
    conversation_id: str
    message_id: str
    events: list[StreamEvent] = field(default_factory=list)
    ended: asyncio.Future[Message] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    error: TesserraError | None = None
    stopping: MessageStatus | None = None
    """Why its task is being cancelled: ``cancelled`` (the user) or ``interrupted`` (the server stops)."""
    awaiting: asyncio.Event = field(default_factory=asyncio.Event)
    """Set while the answer waits for the user's decision on a tool call (``pending_approval``)."""
    task: asyncio.Task[None] | None = None
    closed: bool = False
    """Its task is over: no event will follow (``done`` is last, unless storing the end failed)."""
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def publish(self, event: StreamEvent) -> None:
        self.events.append(event)
        self._wake_followers()

    def close(self) -> None:
        self.closed = True
        self._wake_followers()

    def _wake_followers(self) -> None:
        wake, self._wake = self._wake, asyncio.Event()
        wake.set()

    async def follow(self, after: int) -> AsyncIterator[StreamEvent]:
        index = after
        while True:
            wake = self._wake
            while index < len(self.events):
                index += 1
                yield self.events[index - 1]
            if self.closed or (self.events and self.events[-1].name is EventName.DONE):
                return
            await wake.wait()


class Recorder:
    """Numbers, stores and publishes an answer's events, in order; keeps the text streamed so far."""

    def __init__(self, uow: UnitOfWorkFactory, live: LiveAnswer) -> None:
        self._uow = uow
        self._live = live
        self._seq = 0
        self._last: asyncio.Task[None] | None = None
        self.text: list[str] = []

    def next_event(self, name: EventName, data: Any) -> StreamEvent:
        self._seq += 1
        live = self._live
        return StreamEvent(
            tenant_id=live.tenant_id, message_id=live.message_id, seq=self._seq, name=name, data=encode_data(data)
        )

    async def emit(self, name: EventName, data: dict[str, Any]) -> None:
        if name is EventName.TEXT_DELTA:
            self.text.append(data["text"])
        event = self.next_event(name, data)
        # Stored whole even if the answer is cancelled meanwhile: a viewer never sees a gap.
        self._last = asyncio.ensure_future(self._store(event))
        await asyncio.shield(self._last)

    async def settle(self) -> None:
        """Wait for the event being stored, if any (after a cancellation)."""
        if self._last is not None:
            await asyncio.wait([self._last])

    async def _store(self, event: StreamEvent) -> None:
        async with self._uow() as uow:
            await uow.message_events.add(event)
            await uow.commit()
        self._live.publish(event)

    async def finish(self, final: Message, extra: tuple[tuple[EventName, Any], ...] = ()) -> None:
        """Store the final message with its last events (``done`` last) in one transaction."""
        events = [self.next_event(name, data) for name, data in extra]
        events.append(self.next_event(EventName.DONE, MessageView.of(final)))
        async with self._uow() as uow:
            await uow.messages.update(final)
            for event in events:
                await uow.message_events.add(event)
            await uow.commit()
        for event in events:
            self._live.publish(event)


@dataclass(eq=False)
class AnswerBoard:
    """The answers this process is generating, by message id."""

    uow: UnitOfWorkFactory
    live: dict[str, LiveAnswer] = field(default_factory=dict)
    poll: float = 0.1

    def start(
        self, tenant_id: str, conversation_id: str, message_id: str, run: Callable[[LiveAnswer], Awaitable[None]]
    ) -> LiveAnswer:
        answer = LiveAnswer(tenant_id, conversation_id, message_id)
        self.live[message_id] = answer

        async def running() -> None:
            try:
                await run(answer)
            except Exception:
                log.exception("answer %s could not be stored to its end", message_id)
            finally:
                self.live.pop(message_id, None)
                answer.close()

        answer.task = asyncio.create_task(running(), name=f"answer-{message_id}")
        return answer

    def running(self, tenant_id: str, message_id: str) -> LiveAnswer | None:
        answer = self.live.get(message_id)
        return answer if answer is not None and answer.tenant_id == tenant_id else None

    def of_conversation(self, tenant_id: str, conversation_id: str) -> list[LiveAnswer]:
        return [a for a in self.live.values() if a.tenant_id == tenant_id and a.conversation_id == conversation_id]

    async def stop(self, answer: LiveAnswer, why: MessageStatus) -> Message:
        """Cancel the answer's task and wait for it to store how it ended."""
        if answer.task is not None and not answer.ended.done():
            answer.stopping = answer.stopping or why
            answer.task.cancel()
        return await asyncio.shield(answer.ended)

    async def follow(
        self, tenant_id: str, conversation_id: str, message_id: str, after: int
    ) -> AsyncIterator[StreamEvent]:
        """The answer's events after ``after``: the stored ones, then the live ones until ``done``. An answer
        another server process generates is followed through the store (polled every ``poll`` seconds)."""
        answer = self.running(tenant_id, message_id)
        if answer is not None:
            async for event in answer.follow(after):
                yield event
            return
        # Not running here: a live answer is stored before it is published and leaves the board only after
        # its ``done`` is stored, so the store has every event it will ever have, or another process is
        # still writing them (the message is still streaming).
        while True:
            async with self.uow(read_only=True) as uow:
                stored = await uow.message_events.after(tenant_id, message_id, after)
                message = None if stored else await uow.messages.get(tenant_id, conversation_id, message_id)
            for event in stored:
                yield event
                after = event.seq
                if event.name is EventName.DONE:
                    return
            if not stored:
                if message is None or message.status not in GENERATING:
                    return
                await asyncio.sleep(self.poll)

    async def aclose(self) -> None:
        """The server stops: every answer ends ``interrupted`` with its text so far."""
        stopping = [asyncio.wait_for(self.stop(a, MessageStatus.INTERRUPTED), 10) for a in self.live.values()]
        await asyncio.gather(*stopping, return_exceptions=True)


@dataclass(frozen=True, slots=True)
class RepairAnswers:
    """At start-up: an answer still marked streaming (or pending approval) belongs to a server that died;
    it ends ``interrupted`` with the text it had streamed, its pending approvals end ``cancelled`` (the
    tool never runs: a decision after that is 409), and its event stream gets its ``error`` and ``done``."""

    uow: UnitOfWorkFactory
    board: AnswerBoard
    clock: Clock

    async def __call__(self) -> int:
        async with self.uow() as uow:
            stuck = [m for m in await uow.messages.streaming() if m.id not in self.board.live]
            now = self.clock.now()
            for message in stuck:
                for approval in await uow.approvals.pending_of(message.tenant_id, message.id):
                    await uow.approvals.decide(message.tenant_id, approval.id, ApprovalStatus.CANCELLED, now)
                events = await uow.message_events.after(message.tenant_id, message.id, 0)
                final = msgspec.structs.replace(
                    message,
                    content=partial_text(events),
                    status=MessageStatus.INTERRUPTED,
                    error="the server stopped while answering",
                    error_code="interrupted",
                )
                await uow.messages.update(final)
                seq = events[-1].seq if events else 0
                error = {"code": "interrupted", "message": final.error}
                for offset, (name, data) in enumerate(
                    ((EventName.ERROR, error), (EventName.DONE, MessageView.of(final)))
                ):
                    await uow.message_events.add(
                        StreamEvent(
                            tenant_id=message.tenant_id,
                            message_id=message.id,
                            seq=seq + offset + 1,
                            name=name,
                            data=encode_data(data),
                        )
                    )
            await uow.commit()
        if stuck:
            log.warning("marked %d answers interrupted: the server stopped while they streamed", len(stuck))
        return len(stuck)
