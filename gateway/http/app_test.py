import grpc
import pytest
from google.protobuf import json_format
from recsys.v1 import gateway_pb2

from core.errors import InvalidArgument
from gateway.http.app import HttpContext, deadline_of, to_json
from gateway.http.covers import cover_svg
from gateway.http.errors import error_body
from gateway.http.openapi import openapi_document


def test_the_deadline_header_is_milliseconds_left():
    assert deadline_of({}) is None
    assert deadline_of({"x-deadline-ms": "250"}) == 0.25
    for bad in ("0", "-5", "soon", "1e9"):
        with pytest.raises(InvalidArgument):
            deadline_of({"x-deadline-ms": bad})
    assert HttpContext(None).time_remaining() is None
    assert 0 < HttpContext(1.0).time_remaining() <= 1.0


def test_answers_use_the_proto_field_names_and_keep_defaults():
    doc = to_json(gateway_pb2.RecommendResponse(items=[gateway_pb2.RecommendedItem(item_id=7, cover_url="/c")]))
    assert doc["items"][0]["cover_url"] == "/c" and doc["items"][0]["item_id"] == "7"
    assert doc["items"][0]["rank_position"] == 0 and doc["degraded"] == []


def test_int64_values_are_json_strings_as_the_proto_mapping_says():
    big = 2**53 + 1  # a JSON number (a double) cannot hold it
    doc = to_json(gateway_pb2.RecommendResponse(items=[gateway_pb2.RecommendedItem(item_id=big, category=3)]))
    assert doc["items"][0]["item_id"] == str(big) and doc["items"][0]["author_id"] == "0"
    assert doc["items"][0]["category"] == 3  # int32 stays a number
    parsed = gateway_pb2.RecommendRequest()
    for body in ('{"user_id": "9007199254740993"}', '{"user_id": 9007199254740993}'):
        json_format.Parse(body, parsed)
        assert parsed.user_id == big


def test_errors_carry_the_http_status_and_the_grpc_reason():
    assert error_body(grpc.StatusCode.RESOURCE_EXHAUSTED, "busy") == (
        429, {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "busy"}})
    assert error_body(grpc.StatusCode.UNAUTHENTICATED, "")[0] == 401


def test_covers_are_deterministic_svg():
    assert cover_svg(5, 3) == cover_svg(5, 3) != cover_svg(6, 3)
    assert cover_svg(5).startswith("<svg") and "#5" in cover_svg(5)


def test_openapi_schemas_follow_the_protos():
    doc = openapi_document([("POST", "/v1/recommend", "feed", gateway_pb2.RecommendRequest.DESCRIPTOR,
                             gateway_pb2.RecommendResponse.DESCRIPTOR, False)])
    schemas = doc["components"]["schemas"]
    assert schemas["recsys.v1.RecommendRequest"]["properties"]["context"]["type"] == "object"
    assert schemas["recsys.v1.RecommendedItem"]["properties"]["tags"] == {"type": "array", "items": {"type": "string"}}
    assert doc["paths"]["/v1/recommend"]["post"]["security"] == [{"apiKey": []}]
