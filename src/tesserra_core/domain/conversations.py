"""Conversations with an agent, and their messages: the user's own, within the tenant.

A conversation keeps a copy of the agent version it started with. An assistant message records how
its answer was made: the tool calls (each with its outcome and a capped result), the tokens spent
(``tokens_estimated`` when the provider reported none and they were counted here), how long it took
and why the loop stopped.
"""

from __future__ import annotations

import enum
from datetime import datetime

import msgspec

from tesserra_core.domain.agents import Agent

MAX_TITLE = 200
MAX_MESSAGE = 32_000
"""The longest message a user may post, in characters."""


class ConversationStatus(enum.StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"


class Conversation(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    tenant_id: str
    user_id: str
    agent: Agent
    """The agent as it was when the conversation started (its id and version included)."""
    title: str
    status: ConversationStatus
    created_at: datetime
    updated_at: datetime


class Role(enum.StrEnum):
    USER = "user"
    ASSISTANT = "assistant"


class MessageStatus(enum.StrEnum):
    STREAMING = "streaming"
    """The answer is being generated: its events are at ``.../mensagens/{id}/eventos``."""
    PENDING_APPROVAL = "pending_approval"
    """The answer waits for the user to approve or deny a destructive tool call (``approval_required``)."""
    COMPLETE = "complete"
    FAILED = "failed"
    """The provider failed or is not configured: ``error`` (and ``error_code``) say why."""
    CANCELLED = "cancelled"
    """The user cancelled it: ``content`` is the text streamed until then."""
    INTERRUPTED = "interrupted"
    """The server stopped (or died) while answering: ``content`` is the text streamed until then."""


class StopReason(enum.StrEnum):
    ANSWER = "answer"
    STEP_LIMIT = "step_limit"
    TOOL_CALL_LIMIT = "tool_call_limit"
    TOKEN_LIMIT = "token_limit"
    ERROR = "error"


GENERATING = frozenset({MessageStatus.STREAMING, MessageStatus.PENDING_APPROVAL})
"""An answer in these is not over: a server process is (or was, until it died) generating it."""


class ToolOutcome(enum.StrEnum):
    OK = "ok"
    DENIED = "denied"
    """Not one of the agent's tools, beyond the user's rights, or refused by the user: it did not run."""
    INVALID = "invalid"
    """Its arguments were not valid JSON or did not match the tool's schema: it did not run."""
    FAILED = "failed"
    """It ran and the use case refused (not found, conflict, ...)."""


class ToolCallRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    arguments: str
    outcome: ToolOutcome
    result: str
    """What the model was given back (JSON text, capped with a marker)."""


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False
    """Counted here (about four characters a token) because the provider reported none."""

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            estimated=self.estimated or other.estimated,
        )


class Message(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    tenant_id: str
    conversation_id: str
    role: Role
    content: str
    status: MessageStatus
    created_at: datetime
    stop_reason: StopReason | None = None
    error: str | None = None
    tool_calls: tuple[ToolCallRecord, ...] = ()
    usage: Usage = Usage()
    latency_ms: int = 0
    error_code: str | None = None
    reply_to: str | None = None
    """An answer's user message."""
    idempotency_key: str | None = None
    """A user message's ``Idempotency-Key``: a retry with it gets this exchange, never a second one."""


def estimate_tokens(text: str) -> int:
    """A rough count for providers that report none: about four characters a token, at least one."""
    return max(1, (len(text) + 3) // 4) if text else 0


class ApprovalStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    """Nobody decided in time: denied automatically."""
    CANCELLED = "cancelled"
    """The answer ended first (cancelled, or the server stopped): the call never runs."""


class Approval(msgspec.Struct, frozen=True, kw_only=True):
    """A destructive tool call the model asked for, waiting for the conversation's user to decide. Stored:
    only one decision (or the timeout, or the answer's end) ever moves it out of ``pending``."""

    id: str
    tenant_id: str
    conversation_id: str
    message_id: str
    tool_call_id: str
    tool: str
    arguments: str
    status: ApprovalStatus
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None = None
