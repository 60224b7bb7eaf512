"""What a use case states once, for both drivers to read: the scope it needs and what a client reads.

A use case that checks a scope names it as a class attribute and checks that attribute::

    @dataclass(frozen=True, slots=True)
    class CreateProject:
        scope: ClassVar[Scope] = Scope.PROJECTS_WRITE

        async def __call__(self, actor: Principal, cmd: NewProject) -> ProjectView:
            actor.require(self.scope)

(the platform administrators' use cases state ``Scope.ADMIN`` and check it with
``actor.require_platform_admin()``, which asks for the administrator flag as well). Its class
docstring is what a client needs to know. The MCP tool that calls it needs that scope and shows that
docstring; the REST route documents both in its OpenAPI description. Each adds only its transport's
own notes.
"""

from __future__ import annotations

import inspect

from tesserra_core.domain.identity import Scope


def scope_of(use_case: type) -> Scope | None:
    """The scope ``use_case`` checks, or None for one that checks none (public, or any caller)."""
    scope = getattr(use_case, "scope", None)
    return scope if isinstance(scope, Scope) else None


def description_of(use_case: type) -> str:
    """The use case's own docstring, each paragraph on one line ("" without one, rather than the
    signature that dataclasses write in its place)."""
    doc = use_case.__doc__
    if not doc or doc.startswith(f"{use_case.__name__}("):
        return ""
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(" ".join(paragraph.split()) for paragraph in paragraphs)
