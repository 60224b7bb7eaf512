"""Who may use Infra SSH (an admin-tier API key, acting for a named person: X-User-Id), and what every
Infra SSH use case looks up: the caller's host, a catalog action, the hash of an argv."""

from __future__ import annotations

import hashlib

from tesserra_core.domain.identity import AuthMethod, Principal, Scope, Tier
from tesserra_core.domain.infra_ssh import Action, ActionCatalog, Host, Outcome
from tesserra_core.errors import Forbidden, ValidationFailed, found
from tesserra_core.ports.persistence import UnitOfWork


def operator_of(actor: Principal, scope: Scope) -> str:
    """The X-User-Id the admin key acts for, or the person signed in to the console with admin rights (a
    platform administrator, who acts for themselves only). Any other credential is refused (403
    admin_key_required); an admin key without X-User-Id is a bad request (400 user_id_required)."""
    actor.require(scope)
    if actor.tier is not Tier.ADMIN or not (actor.method is AuthMethod.API_KEY or actor.console):
        message = "Infra SSH needs an admin-tier API key, or a platform administrator in the console"
        raise Forbidden(message, code="admin_key_required")
    if actor.console and actor.acting_user_id != actor.user_id:
        raise Forbidden("in the console a person acts for themselves only", code="admin_key_required")
    if actor.acting_user_id is None:
        raise ValidationFailed("Infra SSH needs X-User-Id: the person this admin key acts for", code="user_id_required")
    return actor.acting_user_id


async def host_of(uow: UnitOfWork, actor: Principal, host_id: str) -> Host:
    return found(await uow.ssh_hosts.get(actor.tenant_id, host_id), "no such host", code="host_not_found")


def action_of(catalog: ActionCatalog, action_id: str) -> Action:
    action = catalog.get(action_id)
    if action is None:
        raise ValidationFailed(f"no action named {action_id}", code=Outcome.VALIDATION_FAILED.value)
    return action


def argv_sha256(argv: tuple[str, ...]) -> str:
    """SHA-256 of the argument vector, each word followed by a NUL (no word holds one)."""
    return hashlib.sha256(b"".join(word.encode() + b"\0" for word in argv)).hexdigest()
