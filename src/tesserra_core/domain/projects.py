"""Projects: a tenant's named containers of resources, files and domains."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated

import msgspec

from tesserra_core.domain.text import check_name

MAX_NAME = 100


class ProjectStatus(enum.StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"


class Project(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    tenant_id: str
    name: str
    description: str
    status: ProjectStatus
    created_at: datetime
    updated_at: datetime


class ProjectFilter(msgspec.Struct, frozen=True, kw_only=True):
    """What a project list may be narrowed by: its status, and a case-insensitive name substring."""

    status: ProjectStatus | None = None
    name: Annotated[str, msgspec.Meta(max_length=MAX_NAME)] | None = None


def check_project_name(value: str) -> str:
    return check_name("name", value, MAX_NAME)


def name_key(name: str) -> str:
    """What makes two project names the same within a tenant: case and surrounding spaces do not count."""
    return name.strip().casefold()
