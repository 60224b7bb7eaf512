"""A list page: one page of rows, read for whoever is signed in at the ``?page=N`` the request asks for, and
rendered with its pager (its table, pager and empty states are the ``_listing.html`` macro's)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from litestar.response import Template

from tesserra_core.domain.identity import ConsoleSession, Principal
from tesserra_core.domain.paging import Page, PageRequest
from tesserra_web.web import AnyRequest, Console, Pager, render

Load = Callable[[Principal, PageRequest], Awaitable[Page[Any]]]
"""Reads one page of rows for an actor (``uc.mail.list_mailboxes``, or a lambda adding the page's own
arguments)."""


@dataclass(frozen=True, slots=True)
class Listing:
    session: ConsoleSession
    actor: Principal
    page: Page[Any]
    pager: Pager

    @classmethod
    async def of(cls, console: Console, request: AnyRequest, load: Load) -> Listing:
        """The signed-in actor's page of ``load``'s rows (the login page if nobody is; 400 on a bad page)."""
        session, actor = await console.signed_in(request)
        pager = Pager.of(request)
        return cls(session, actor, await load(actor, pager.request), pager)

    def render(self, request: AnyRequest, template: str, *, status: int = 200, **context: Any) -> Template:
        """``template`` with the page, its pager, and ``context`` beside them."""
        return render(
            request,
            template,
            status=status,
            session=self.session,
            actor=self.actor,
            page=self.page,
            pager=self.pager,
            **context,
        )
