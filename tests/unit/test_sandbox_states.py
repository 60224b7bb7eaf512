"""The sandbox state machine, as a table: every action from every state is a step (through its
transient state to its final one), a no-op, or a 409 whose code names the state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tesserra_core.domain import sandboxes as sb
from tesserra_core.domain.sandboxes import Cause, OnIdle, OnTtl, legal_actions, step
from tesserra_core.errors import Conflict

S, A = sb.SandboxState, sb.SandboxAction
NOOP = "noop"

# action -> {state: (transient, final) | NOOP}; a state missing from the row is a 409.
EXPECTED: dict[sb.SandboxAction, dict[sb.SandboxState, tuple[sb.SandboxState, sb.SandboxState] | str]] = {
    A.START: {S.STOPPED: (S.STARTING, S.RUNNING), S.ERROR: (S.STARTING, S.RUNNING), S.RUNNING: NOOP, S.STARTING: NOOP},
    A.STOP: {
        S.RUNNING: (S.STOPPING, S.STOPPED),
        S.PAUSED: (S.STOPPING, S.STOPPED),
        S.ERROR: (S.STOPPING, S.STOPPED),
        S.STOPPED: NOOP,
        S.STOPPING: NOOP,
    },
    A.PAUSE: {S.RUNNING: (S.PAUSING, S.PAUSED), S.PAUSED: NOOP, S.PAUSING: NOOP},
    A.RESUME: {S.PAUSED: (S.STARTING, S.RUNNING), S.RUNNING: NOOP, S.STARTING: NOOP},
    A.RESTART: {
        S.RUNNING: (S.STARTING, S.RUNNING),
        S.PAUSED: (S.STARTING, S.RUNNING),
        S.STOPPED: (S.STARTING, S.RUNNING),
        S.ERROR: (S.STARTING, S.RUNNING),
        S.STARTING: NOOP,
    },
    A.KEEPALIVE: {S.RUNNING: NOOP, S.STARTING: NOOP},
    A.DELETE: {**{s: (S.DELETING, S.DELETED) for s in S if s is not S.DELETED}, S.DELETED: NOOP},
}

CASES = [(state, action) for action in A for state in S]


@pytest.mark.parametrize(("state", "action"), CASES, ids=[f"{a}-from-{s}" for s, a in CASES])
def test_every_action_from_every_state(state: sb.SandboxState, action: sb.SandboxAction) -> None:
    expected = EXPECTED[action].get(state)
    if expected is None:
        with pytest.raises(Conflict) as caught:
            step(state, action)
        assert caught.value.code == f"sandbox_{state}"
        assert str(state) in caught.value.message
    elif expected == NOOP:
        assert step(state, action) is None
    else:
        found = step(state, action)
        assert found is not None
        assert (found.transient, found.final) == expected


def test_delete_is_legal_from_every_state_and_a_noop_once_deleted() -> None:
    for state in S:
        assert (step(state, A.DELETE) is None) == (state is S.DELETED)


def test_the_listed_actions_are_those_that_do_something() -> None:
    for state in S:
        listed = set(legal_actions(state))
        assert listed == {a for a in A if isinstance(EXPECTED[a].get(state), tuple)}


T0 = datetime(2026, 1, 1, tzinfo=UTC)


def a_sandbox(**changes: object) -> sb.Sandbox:
    values: dict[str, object] = {
        "id": "s1",
        "tenant_id": "t1",
        "owner_id": "u1",
        "name": "box",
        "template": sb.SandboxTemplate(command=("sleep", "1")),
        "state": S.RUNNING,
        "state_reason": "",
        "generation": 1,
        "workload_id": None,
        "ttl_seconds": 60,
        "on_ttl": OnTtl.STOP,
        "idle_timeout_seconds": 10,
        "on_idle": OnIdle.PAUSE,
        "expires_at": T0 + timedelta(seconds=60),
        "idle_expires_at": None,
        "last_activity_at": T0,
        "events": (),
        "created_at": T0,
        "updated_at": T0,
    }
    return sb.Sandbox(**{**values, **changes}).clocked()  # type: ignore[arg-type]


def test_the_idle_clock_runs_only_while_running_and_restarts_with_activity() -> None:
    s = a_sandbox()
    assert s.idle_expires_at == T0 + timedelta(seconds=10)
    assert s.due(T0 + timedelta(seconds=9)) is None
    assert s.due(T0 + timedelta(seconds=10)) == (A.PAUSE, Cause.IDLE)
    touched = s.touched(T0 + timedelta(seconds=9))
    assert touched.due(T0 + timedelta(seconds=10)) is None
    assert touched.idle_expires_at == T0 + timedelta(seconds=19)
    paused = s.moved(S.PAUSED, Cause.IDLE, T0 + timedelta(seconds=10), action=A.PAUSE)
    assert paused.idle_expires_at is None
    assert paused.due(T0 + timedelta(seconds=30)) is None
    for on_idle, action in ((OnIdle.STOP, A.STOP), (OnIdle.DELETE, A.DELETE)):
        assert a_sandbox(on_idle=on_idle).due(T0 + timedelta(seconds=11)) == (action, Cause.IDLE)


def test_the_ttl_is_a_hard_cap_whatever_the_activity() -> None:
    s = a_sandbox(idle_timeout_seconds=None).touched(T0 + timedelta(seconds=59))
    assert s.due(T0 + timedelta(seconds=60)) == (A.STOP, Cause.TTL)
    stopped = s.moved(S.STOPPED, Cause.TTL, T0 + timedelta(seconds=60), action=A.STOP)
    assert stopped.due(T0 + timedelta(seconds=120)) is None
    doomed = a_sandbox(on_ttl=OnTtl.DELETE, state=S.STOPPED)
    assert doomed.due(T0 + timedelta(seconds=60)) == (A.DELETE, Cause.TTL)
    assert a_sandbox(state=S.DELETING, on_ttl=OnTtl.DELETE).due(T0 + timedelta(days=1)) is None


def test_every_transition_is_an_event_with_its_cause_and_the_list_is_bounded() -> None:
    s = a_sandbox()
    for n in range(60):
        s = s.moved(S.PAUSED if n % 2 else S.RUNNING, Cause.REQUEST, T0 + timedelta(seconds=n), detail=f"n{n}")
    assert len(s.events) == 50
    assert s.events[-1].detail == "n59"
    assert s.events[-1].previous is S.RUNNING
    assert s.events[-1].state is S.PAUSED
    assert s.state_reason == "n59"


def test_a_sandbox_holds_a_bounded_list_of_revoked_tokens() -> None:
    from tesserra_core.domain.sandboxes import MAX_REVOKED

    box = a_sandbox()
    for n in range(MAX_REVOKED):
        box = box.revoking(f"t{n}", T0 + timedelta(days=1), T0)
    with pytest.raises(Conflict) as full:
        box.revoking("one-more", T0 + timedelta(days=1), T0)
    assert full.value.code == "too_many_revocations"
    # once they could no longer be used, they leave room
    assert box.revoking("one-more", T0 + timedelta(days=3), T0 + timedelta(days=2)).revoked_tokens[-1].token_id == (
        "one-more"
    )
