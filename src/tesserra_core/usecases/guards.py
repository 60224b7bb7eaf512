"""Request guards that both drivers share: named rate limits and idempotency keys."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import msgspec

from tesserra_core.errors import Conflict, RateLimited, Unprocessable, ValidationFailed
from tesserra_core.ports.limits import (
    IdempotencyClaim,
    IdempotencyOutcome,
    IdempotencyStore,
    RateDecision,
    RateLimiter,
    StoredResponse,
)
from tesserra_core.ports.telemetry import NoTelemetry, Telemetry


class RateRule(msgspec.Struct, frozen=True):
    limit: int
    window: float


CONSOLE = "console"
"""The rule of the console's routes (/projetos/*, /dominios/*, /emails/*) and their MCP tools, per token."""

DEFAULT_RULES: dict[str, RateRule] = {
    "login": RateRule(5, 15 * 60.0),  # per client IP
    "me": RateRule(60, 60.0),  # per token
    CONSOLE: RateRule(60, 60.0),  # /projetos/*, /dominios/*, /emails/* and their MCP tools, per token
    "admin": RateRule(120, 60.0),  # /admin/*, per token
    "oauth_callback": RateRule(30, 60.0),  # /auth/callback (public), per client IP
    "console_session": RateRule(120, 600.0),  # new anonymous console sessions, per client IP
}


@dataclass(frozen=True, slots=True)
class Throttle:
    limiter: RateLimiter
    rules: dict[str, RateRule] = field(default_factory=lambda: dict(DEFAULT_RULES))
    scale: float = 1.0
    """Multiplies every limit (a load test raises it; 1.0 in production)."""
    telemetry: Telemetry = field(default_factory=NoTelemetry)

    async def __call__(self, rule_name: str, subject: str) -> RateDecision:
        rule = self.rules[rule_name]
        limit = max(1, int(rule.limit * self.scale))
        decision = await self.limiter.hit(f"{rule_name}:{subject}", limit, rule.window)
        if not decision.allowed:
            self.telemetry.rate_limited(rule_name)
        return decision


def rate_limited(decision: RateDecision) -> RateLimited:
    """The refusal of a request its rule's window has no room for, saying when to come back."""
    return RateLimited("rate limit exceeded: retry later", retry_after=decision.reset_after)


MAX_IDEMPOTENCY_KEY = 255
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$"
"""Visible ASCII, no spaces at either end (what an HTTP header carries intact); as /openapi.json states."""
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
IDEMPOTENCY_TTL = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class Idempotency:
    """Same key, same principal, same request within 24 h: the first response again."""

    store: IdempotencyStore
    ttl: float = IDEMPOTENCY_TTL

    async def claim(self, owner: str, key: str, fingerprint: str) -> StoredResponse | None:
        """None: go ahead (then ``complete`` or ``release``). A response: replay it."""
        if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY or not _IDEMPOTENCY_KEY.fullmatch(key):
            raise ValidationFailed(
                f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} visible ASCII characters (inner spaces allowed)",
                code="invalid_idempotency_key",
            )
        claim: IdempotencyClaim = await self.store.claim(owner, key, fingerprint, self.ttl)
        if claim.outcome is IdempotencyOutcome.STARTED:
            return None
        if claim.outcome is IdempotencyOutcome.REPLAY:
            assert claim.response is not None
            return claim.response
        if claim.outcome is IdempotencyOutcome.IN_FLIGHT:
            raise Conflict(
                "a request with this Idempotency-Key is still in progress; retry later",
                code="idempotency_in_flight",
            )
        raise Unprocessable(
            "this Idempotency-Key was already used with a different request", code="idempotency_key_reused"
        )

    async def complete(self, owner: str, key: str, response: StoredResponse) -> None:
        await self.store.complete(owner, key, response)

    async def release(self, owner: str, key: str) -> None:
        await self.store.release(owner, key)
