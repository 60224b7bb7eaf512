"""How msgspec Structs appear in /openapi.json: exactly what the decoder enforces.

Litestar's own Struct plugin leaves out two rules the server applies: ``forbid_unknown_fields``
(the server answers 400 to an unknown field, so the schema says ``additionalProperties: false``) and
bounds equal to zero (``ge=0``/``gt=0`` are dropped as falsy, so a generated client would send 0 or
-1 where the server refuses them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.spec import Schema

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.typing import FieldDefinition


def _bare(field_type: Any) -> Any:
    """The constrained type inside ``Optional[...]`` and ``Annotated[..., Meta(...)]``."""
    if isinstance(field_type, msgspec.inspect.UnionType):
        others = [t for t in field_type.types if not isinstance(t, msgspec.inspect.NoneType)]
        field_type = others[0] if len(others) == 1 else field_type
    if isinstance(field_type, msgspec.inspect.Metadata):
        field_type = field_type.type
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
            if not isinstance(prop, Schema) or not isinstance(
                bare, msgspec.inspect.IntType | msgspec.inspect.FloatType
            ):
                continue
            if bare.ge == 0:
                prop.minimum = 0
            if bare.gt == 0:
                prop.exclusive_minimum = 0
        return schema
