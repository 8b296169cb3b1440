"""Sans-I/O GWT-RPC codec: text in, typed values out, and back. No network, no browser.

Layers (each a module named for what it holds): ``longs``/``escapes`` (token encodings),
``types``/``schema``/``builtins`` (what a slot expects), ``reader``/``writer`` (the object
stream), ``request``/``response``/``jsarray`` (framing), ``jsonform`` (the user-facing JSON
form), ``bootstrap`` (what nocache.js and cache.js reveal).
"""

from scraper.gwt.bootstrap import (
    Permutation,
    choose_permutation,
    discover_permutations,
    discover_services,
    discover_signatures,
)
from scraper.gwt.builtins import ARRAYLIST, BOOLEAN, HASHMAP, INTEGER, LONG, STRING
from scraper.gwt.jsonform import (
    request_from_json,
    request_to_json,
    response_to_json,
    value_from_json,
)
from scraper.gwt.longs import decode_long, encode_long
from scraper.gwt.request import Param, Request, build_request, parse_request
from scraper.gwt.response import Response, build_response, incompatible, parse_response
from scraper.gwt.schema import Registry, gwt_registry
from scraper.gwt.values import (
    Boxed,
    Collection,
    EnumValue,
    GwtObject,
    Instance,
    MapValue,
    unwrap,
    walk,
)

__all__ = [
    "ARRAYLIST", "BOOLEAN", "HASHMAP", "INTEGER", "LONG", "STRING",
    "Boxed", "Collection", "EnumValue", "GwtObject", "Instance", "MapValue", "Param",
    "Permutation", "Registry", "Request", "Response",
    "build_request", "build_response", "choose_permutation", "decode_long",
    "discover_permutations", "discover_services", "discover_signatures", "encode_long",
    "gwt_registry", "incompatible", "parse_request", "parse_response", "request_from_json",
    "request_to_json", "response_to_json", "unwrap", "value_from_json", "walk",
]
