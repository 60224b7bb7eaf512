"""The catalog of resource types a project can hold, shipped as versioned data (``catalog.json``).

Each type has a JSON Schema for its configuration (checked by ``jsonschema.validate``) and, per
plan, limits on what a configuration may ask for (e.g. ``memory_mb``).
"""

from __future__ import annotations

import enum
from functools import cache
from importlib import resources
from typing import Any

import msgspec

from tesserra_core.domain.jsonschema import check_schema, validate
from tesserra_core.domain.plans import Entitlement
from tesserra_core.errors import PaymentRequired, Unprocessable


class Kind(enum.StrEnum):
    CONTAINER = "container"
    """Runs as a workload of the container runtime (owner ``resource:<id>``)."""
    LOGICAL = "logical"
    """Recorded and provisioned as a logical resource (no process of its own on this server)."""


class ResourceType(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    title: str
    description: str
    kind: Kind
    http: bool
    """Answers HTTP on its ``port``: health checks GET it."""
    schema: dict[str, Any]
    plan_limits: dict[str, dict[str, float]]

    def validate(self, config: dict[str, Any]) -> dict[str, Any]:
        """The configuration with the schema's defaults filled in; 400 naming the field if it is bad."""
        validate(config, self.schema)
        filled = dict(config)
        for name, prop in self.schema.get("properties", {}).items():
            if name not in filled and "default" in prop:
                filled[name] = prop["default"]
        return filled

    def check_plan(self, config: dict[str, Any], entitlement: Entitlement) -> None:
        """402 naming the limit when the configuration asks for more than the plan allows.
        A plan the type does not list (a custom one) is not limited here."""
        plan = entitlement.plan
        limits = self.plan_limits.get(plan)
        if limits is None:
            return
        for field, limit in limits.items():
            value = config.get(field)
            if isinstance(value, int | float) and not isinstance(value, bool) and value > limit:
                raise PaymentRequired(
                    f"quota {self.type}.{field} exceeded: plan {plan} allows {limit:g}, asked for {value:g}",
                    code="quota_exceeded" if entitlement.subscribed else "subscription_required",
                )


class Catalog(msgspec.Struct, frozen=True, kw_only=True):
    version: str
    types: list[ResourceType]

    def get(self, type_name: str) -> ResourceType:
        for t in self.types:
            if t.type == type_name:
                return t
        known = ", ".join(t.type for t in self.types)
        raise Unprocessable(f"type: unknown resource type {type_name!r} (one of {known})", code="unknown_type")


@cache
def catalog() -> Catalog:
    """The catalog shipped with this version, read and checked once."""
    raw = resources.files("tesserra_core.domain").joinpath("catalog.json").read_bytes()
    loaded = msgspec.json.decode(raw, type=Catalog)
    for t in loaded.types:
        check_schema(t.schema, t.type)
    return loaded
