"""Mail tools: mailboxes and e-mail aliases (on the tenant's verified domains, under the domains scopes).
Each calls the REST twin's use case."""

from typing import Annotated

from pydantic import Field

from tesserra_core.domain.identity import Principal, Tier
from tesserra_core.domain.inputs import convert
from tesserra_core.domain.mail import DEFAULT_QUOTA
from tesserra_core.domain.paging import DEFAULT_LIMIT, Page, PageRequest
from tesserra_core.facade import UseCases
from tesserra_core.usecases import mail
from tesserra_core.usecases.guards import CONSOLE
from tesserra_core.usecases.mail import (
    EmailAliasView,
    MailboxChanges,
    MailboxPassword,
    MailboxView,
    MailboxWithPassword,
    NewEmailAlias,
    NewMailbox,
)
from tesserra_mcp.registry import Limite, Offset, ToolSet

tools = ToolSet()

MailboxId = Annotated[str, Field(description="The mailbox's id.")]
Password = Annotated[
    str | None,
    Field(
        description="8-1024 characters; stored as an argon2id hash. Left out: the server generates a strong one"
        " and answers it once as `password`."
    ),
]
AliasId = Annotated[str, Field(description="The alias's id.")]


@tools.tool(mail.ListMailboxes, rate_limit=CONSOLE)
async def list_mailboxes(
    limite: Limite = DEFAULT_LIMIT, offset: Offset = 0, *, uc: UseCases, actor: Principal
) -> Page[MailboxView]:
    return await uc.mail.list_mailboxes(actor, PageRequest(limite, offset))


@tools.tool(mail.CreateMailbox, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def create_mailbox(
    address: Annotated[str, Field(description="On one of the tenant's verified domains.")],
    password: Password = None,
    quota_bytes: int = DEFAULT_QUOTA,
    *,
    uc: UseCases,
    actor: Principal,
) -> MailboxWithPassword:
    return await uc.mail.create_mailbox(
        actor, convert(NewMailbox, {"address": address, "password": password, "quota_bytes": quota_bytes})
    )


@tools.tool(mail.UpdateMailbox, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def update_mailbox(mailbox_id: MailboxId, quota_bytes: int, *, uc: UseCases, actor: Principal) -> MailboxView:
    return await uc.mail.update_mailbox(actor, mailbox_id, convert(MailboxChanges, {"quota_bytes": quota_bytes}))


@tools.tool(mail.ResetMailboxPassword, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def reset_mailbox_password(
    mailbox_id: MailboxId, password: Password = None, *, uc: UseCases, actor: Principal
) -> MailboxWithPassword:
    return await uc.mail.reset_password(actor, mailbox_id, convert(MailboxPassword, {"password": password}))


@tools.tool(mail.DeleteMailbox, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def delete_mailbox(mailbox_id: MailboxId, *, uc: UseCases, actor: Principal) -> dict[str, str]:
    await uc.mail.delete_mailbox(actor, mailbox_id)
    return {"deleted": mailbox_id}


@tools.tool(mail.ListEmailAliases, rate_limit=CONSOLE)
async def list_email_aliases(
    limite: Limite = DEFAULT_LIMIT, offset: Offset = 0, *, uc: UseCases, actor: Principal
) -> Page[EmailAliasView]:
    return await uc.mail.list_aliases(actor, PageRequest(limite, offset))


@tools.tool(mail.CreateEmailAlias, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def create_email_alias(
    source: Annotated[str, Field(description="An address on one of the tenant's verified domains.")],
    destinations: Annotated[list[str], Field(description="1-50 addresses to deliver to.")],
    *,
    uc: UseCases,
    actor: Principal,
) -> EmailAliasView:
    return await uc.mail.create_alias(actor, convert(NewEmailAlias, {"source": source, "destinations": destinations}))


@tools.tool(mail.DeleteEmailAlias, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def delete_email_alias(alias_id: AliasId, *, uc: UseCases, actor: Principal) -> dict[str, str]:
    await uc.mail.delete_alias(actor, alias_id)
    return {"deleted": alias_id}
