"""The HTTP API's OpenAPI 3.1 document, built from the proto descriptors, so the schemas
are the contracts themselves (field names as in the .proto, the proto JSON mapping)."""
from __future__ import annotations

from google.protobuf.descriptor import Descriptor, FieldDescriptor

_SCALARS = {
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number"},
    FieldDescriptor.TYPE_DOUBLE: {"type": "number"},
    FieldDescriptor.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_UINT32: {"type": "integer", "format": "int32"},
    # The proto JSON mapping: a request may send 64-bit integers as numbers or strings; answers
    # carry them as strings (gateway/http/app.py to_json).
    FieldDescriptor.TYPE_INT64: {"type": ["integer", "string"], "format": "int64"},
    FieldDescriptor.TYPE_SINT64: {"type": ["integer", "string"], "format": "int64"},
    FieldDescriptor.TYPE_UINT64: {"type": ["integer", "string"], "format": "int64"},
}


def _field_schema(f: FieldDescriptor, schemas: dict) -> dict:
    if f.type == FieldDescriptor.TYPE_MESSAGE:
        if f.message_type.GetOptions().map_entry:
            value = _field_schema(f.message_type.fields_by_name["value"], schemas)
            return {"type": "object", "additionalProperties": value}
        one = {"$ref": f"#/components/schemas/{_add(f.message_type, schemas)}"}
    elif f.type == FieldDescriptor.TYPE_ENUM:
        one = {"type": "string", "enum": [v.name for v in f.enum_type.values]}
    else:
        one = dict(_SCALARS.get(f.type, {}))
    return {"type": "array", "items": one} if f.is_repeated else one


def _add(message: Descriptor, schemas: dict) -> str:
    name = message.full_name
    if name not in schemas:
        schemas[name] = {}  # placeholder first: messages may refer to themselves
        schemas[name] = {"type": "object", "properties": {
            f.name: _field_schema(f, schemas) for f in message.fields}}
    return name


def openapi_document(operations: list[tuple[str, str, str, Descriptor | None, Descriptor, bool]]) -> dict:
    """operations: (HTTP method, path, summary, request message or None, response message, admin)."""
    schemas: dict = {"Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
        "code": {"type": "integer"}, "status": {"type": "string"}, "message": {"type": "string"}}}}}}
    paths: dict = {}
    for method, path, summary, request, response, admin in operations:
        op = {"summary": summary, "security": [{"adminKey": []}] if admin else [{"apiKey": []}],
              "responses": {
                  "200": {"description": "OK", "content": {"application/json": {
                      "schema": {"$ref": f"#/components/schemas/{_add(response, schemas)}"}}}},
                  "default": {"description": "an error: HTTP status + the gRPC status name",
                              "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}
        if request is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{_add(request, schemas)}"}}}}
        if "{" in path:
            name = path[path.index("{") + 1: path.index("}")]
            op["parameters"] = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}]
        paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "shortvideo-recsys gateway", "version": "v1",
                 "description": "The gateway's gRPC methods as HTTP/JSON (proto JSON mapping, proto field "
                                "names). Optional header x-deadline-ms: the caller's deadline in ms."},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
            "adminKey": {"type": "apiKey", "in": "header", "name": "x-admin-key"}}},
    }
