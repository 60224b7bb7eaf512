"""/api/emails: mailboxes and aliases on the tenant's verified domains (``console`` rate limit:
each mailbox write hashes a password with argon2id, which is worth bounding)."""

from __future__ import annotations

from litestar import Router, delete, get, patch, post, put
from litestar.params import FromPath, JSONBody

from tesserra_core.domain.paging import Page
from tesserra_core.facade import UseCases
from tesserra_core.usecases.guards import CONSOLE
from tesserra_core.usecases.mail import (
    CreateEmailAlias,
    CreateMailbox,
    DeleteEmailAlias,
    DeleteMailbox,
    EmailAliasChanges,
    EmailAliasView,
    GetEmailAlias,
    GetMailbox,
    ListEmailAliases,
    ListMailboxes,
    MailboxChanges,
    MailboxPassword,
    MailboxView,
    MailboxWithPassword,
    NewEmailAlias,
    NewMailbox,
    ResetMailboxPassword,
    UpdateEmailAlias,
    UpdateMailbox,
)
from tesserra_http.conventions import declare
from tesserra_http.dependencies import Caller, Paging


def routes(uc: UseCases) -> Router:
    @get("/", **declare(uses=ListMailboxes, rate_limit=CONSOLE, errors=(400, 403)))
    async def list_mailboxes(request: Caller, page: Paging) -> Page[MailboxView]:
        return await uc.mail.list_mailboxes(request.user, page)

    @post(
        "/",
        status_code=201,
        **declare(uses=CreateMailbox, rate_limit=CONSOLE, idempotent=True, errors=(400, 402, 403, 404, 409, 422)),
    )
    async def create_mailbox(data: JSONBody[NewMailbox], request: Caller) -> MailboxWithPassword:
        return await uc.mail.create_mailbox(request.user, data)

    @get("/aliases", **declare(uses=ListEmailAliases, rate_limit=CONSOLE, errors=(400, 403)))
    async def list_email_aliases(request: Caller, page: Paging) -> Page[EmailAliasView]:
        return await uc.mail.list_aliases(request.user, page)

    @post(
        "/aliases",
        status_code=201,
        **declare(uses=CreateEmailAlias, rate_limit=CONSOLE, idempotent=True, errors=(400, 403, 404, 409, 422)),
    )
    async def create_email_alias(data: JSONBody[NewEmailAlias], request: Caller) -> EmailAliasView:
        return await uc.mail.create_alias(request.user, data)

    @get("/aliases/{alias_id:str}", **declare(uses=GetEmailAlias, rate_limit=CONSOLE, errors=(403, 404)))
    async def get_email_alias(alias_id: FromPath[str], request: Caller) -> EmailAliasView:
        return await uc.mail.get_alias(request.user, alias_id)

    @patch(
        "/aliases/{alias_id:str}",
        **declare(uses=UpdateEmailAlias, rate_limit=CONSOLE, errors=(400, 403, 404, 409, 422)),
    )
    async def update_email_alias(
        alias_id: FromPath[str], data: JSONBody[EmailAliasChanges], request: Caller
    ) -> EmailAliasView:
        return await uc.mail.update_alias(request.user, alias_id, data)

    @delete(
        "/aliases/{alias_id:str}",
        status_code=204,
        **declare(uses=DeleteEmailAlias, rate_limit=CONSOLE, errors=(403, 404)),
    )
    async def delete_email_alias(alias_id: FromPath[str], request: Caller) -> None:
        await uc.mail.delete_alias(request.user, alias_id)

    @get("/{mailbox_id:str}", **declare(uses=GetMailbox, rate_limit=CONSOLE, errors=(403, 404)))
    async def get_mailbox(mailbox_id: FromPath[str], request: Caller) -> MailboxView:
        return await uc.mail.get_mailbox(request.user, mailbox_id)

    @patch("/{mailbox_id:str}", **declare(uses=UpdateMailbox, rate_limit=CONSOLE, errors=(400, 403, 404)))
    async def update_mailbox(mailbox_id: FromPath[str], data: JSONBody[MailboxChanges], request: Caller) -> MailboxView:
        return await uc.mail.update_mailbox(request.user, mailbox_id, data)

    @put("/{mailbox_id:str}/senha", **declare(uses=ResetMailboxPassword, rate_limit=CONSOLE, errors=(400, 403, 404)))
    async def reset_mailbox_password(
        mailbox_id: FromPath[str], data: JSONBody[MailboxPassword], request: Caller
    ) -> MailboxWithPassword:
        return await uc.mail.reset_password(request.user, mailbox_id, data)

    @delete("/{mailbox_id:str}", status_code=204, **declare(uses=DeleteMailbox, rate_limit=CONSOLE, errors=(403, 404)))
    async def delete_mailbox(mailbox_id: FromPath[str], request: Caller) -> None:
        await uc.mail.delete_mailbox(request.user, mailbox_id)

    handlers = [
        list_mailboxes,
        create_mailbox,
        list_email_aliases,
        create_email_alias,
        get_email_alias,
        update_email_alias,
        delete_email_alias,
        get_mailbox,
        update_mailbox,
        reset_mailbox_password,
        delete_mailbox,
    ]
    return Router("/api/emails", tags=["E-mails"], route_handlers=handlers)
