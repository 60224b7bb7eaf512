"""What handlers declare beyond their body and path: the caller and the requested page.

The caller is ``request.user`` (set by the guard, the Litestar idiom for authentication), and the
use-case facade is closed over by each area's routes (see ``controllers``): neither goes through
dependency injection, so a hot handler resolves no dependency at all.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from litestar import Request
from litestar.di import NamedDependency, Provide

from tesserra_core.domain.identity import Principal
from tesserra_core.domain.paging import PageRequest
from tesserra_http.conventions import provide_page

Caller: TypeAlias = Request[Principal, Any, Any]
"""An authenticated request: ``request.user`` is the acting Principal."""
Paging: TypeAlias = NamedDependency[PageRequest]

DEPENDENCIES = {"page": Provide(provide_page)}
