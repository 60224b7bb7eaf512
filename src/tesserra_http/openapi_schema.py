"""How msgspec Structs appear in /openapi.json: exactly what the decoder enforces.

Litestar's own Struct plugin leaves out three rules the server applies: ``forbid_unknown_fields``
(the server answers 400 to an unknown field, so the schema says ``additionalProperties: false``),
bounds equal to zero (``ge=0``/``gt=0`` are dropped as falsy, so a generated client would send 0 or
-1 where the server refuses them), and the text rule on free-form JSON (``dict[str, Any]`` fields
such as a resource's config: keys are one line, strings hold no control character but tab and line
breaks, at any depth), stated by the recursive component ``JsonText``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.spec import Reference, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.typing import FieldDefinition

from tesserra_core.domain.text import LINE_PATTERN, TEXT_PATTERN

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator


class JsonText:
    """Any JSON value whose object keys are one line and whose strings are text (see domain/text.py)."""


def _json_text(schema_creator: SchemaCreator) -> Reference:
    registry = schema_creator.schema_registry
    field = FieldDefinition.from_annotation(JsonText)
    defined = registry.get_reference_for_field_definition(field)
    if defined is not None:
        return defined
    schema = registry.get_schema_for_field_definition(field)
    itself = registry.get_reference_for_field_definition(field)
    assert itself is not None
    schema.description = JsonText.__doc__
    schema.any_of = [
        Schema(type=OpenAPIType.STRING, pattern=TEXT_PATTERN),
        Schema(type=OpenAPIType.NUMBER),
        Schema(type=OpenAPIType.BOOLEAN),
        Schema(type=OpenAPIType.NULL),
        Schema(type=OpenAPIType.ARRAY, items=registry.get_reference_for_field_definition(field)),
        Schema(
            type=OpenAPIType.OBJECT,
            property_names=Schema(pattern=LINE_PATTERN),
            additional_properties=registry.get_reference_for_field_definition(field),
        ),
    ]
    return itself


def _is_free_json(field_type: Any) -> bool:
    return (
        isinstance(field_type, msgspec.inspect.DictType)
        and isinstance(field_type.key_type, msgspec.inspect.StrType)
        and isinstance(field_type.value_type, msgspec.inspect.AnyType)
    )


def _bare(field_type: Any) -> Any:
    """The constrained type inside ``Optional[...]`` and ``Annotated[..., Meta(...)]``."""
    if isinstance(field_type, msgspec.inspect.UnionType):
        others = [t for t in field_type.types if not isinstance(t, msgspec.inspect.NoneType)]
        field_type = others[0] if len(others) == 1 else field_type
    if isinstance(field_type, msgspec.inspect.Metadata):
        field_type = field_type.type
    if isinstance(field_type, msgspec.inspect.ListType) and isinstance(field_type.item_type, msgspec.inspect.Metadata):
        field_type = msgspec.inspect.ListType(field_type.item_type.type, field_type.min_length, field_type.max_length)
    return field_type


class StrictStructSchemaPlugin(StructSchemaPlugin):
    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        info = msgspec.inspect.type_info(field_definition.type_)
        if not isinstance(schema, Schema) or not isinstance(info, msgspec.inspect.StructType):
            return schema
        if info.forbid_unknown_fields:
            schema.additional_properties = False
        for field in info.fields:
            bare = _bare(field.type)
            prop = (schema.properties or {}).get(field.encode_name)
            if _is_free_json(bare):
                _constrain_free_json(prop, schema_creator)
                continue
            if isinstance(bare, msgspec.inspect.ListType) and isinstance(bare.item_type, msgspec.inspect.StrType):
                _constrain_items(prop, bare.item_type)
                continue
            if not isinstance(prop, Schema) or not isinstance(
                bare, msgspec.inspect.IntType | msgspec.inspect.FloatType
            ):
                continue
            if bare.ge == 0:
                prop.minimum = 0
            if bare.gt == 0:
                prop.exclusive_minimum = 0
        return schema


def _constrain_free_json(prop: Any, schema_creator: SchemaCreator) -> None:
    """An object whose keys are one line and whose members are ``JsonText`` (under ``Optional``, its object branch)."""
    branches = [prop, *(prop.one_of or []), *(prop.any_of or [])] if isinstance(prop, Schema) else []
    for branch in branches:
        if isinstance(branch, Schema) and branch.type == OpenAPIType.OBJECT:
            branch.property_names = Schema(pattern=LINE_PATTERN)
            branch.additional_properties = _json_text(schema_creator)


def _constrain_items(prop: Any, item: msgspec.inspect.StrType) -> None:
    """The rules of a list's strings (Litestar drops the item's ``Meta``), under ``Optional`` too."""
    branches = [prop, *(prop.one_of or []), *(prop.any_of or [])] if isinstance(prop, Schema) else []
    for branch in branches:
        if isinstance(branch, Schema) and branch.type == OpenAPIType.ARRAY and isinstance(branch.items, Schema):
            branch.items.pattern = item.pattern
            branch.items.min_length = item.min_length
            branch.items.max_length = item.max_length
