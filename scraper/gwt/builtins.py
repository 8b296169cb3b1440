"""GWT's built-in (custom field serializer) classes and how their content travels.

Signatures are computed by GWT's own rule (``crc.py``); the ones the vectors (GWT's genuine output)
and the captures quote are checked against it in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from scraper.gwt.crc import custom_serialized_crc


@dataclass(frozen=True, slots=True)
class Builtin:
    """How a built-in class's content is laid out.

    ``kind``: ``boxed`` (one primitive of JNI letter ``letter``), ``string`` (a string index),
    ``date`` (a long), ``timestamp`` (long then int nanos), ``bignum`` (string index of its
    decimal text), ``list`` (size then object refs), ``treeset`` (comparator ref, then as list),
    ``map`` (size then key/value refs), ``linkedmap`` (boolean access order, then as map),
    ``treemap`` (comparator ref, then as map).
    """

    class_name: str
    kind: str
    letter: str = ""

    @property
    def signature(self) -> str:
        return f"{self.class_name}/{custom_serialized_crc(self.class_name)}"


_SPECS: list[tuple[str, str, str]] = [
    ("java.lang.Boolean", "boxed", "Z"),
    ("java.lang.Byte", "boxed", "B"),
    ("java.lang.Short", "boxed", "S"),
    ("java.lang.Integer", "boxed", "I"),
    ("java.lang.Long", "boxed", "J"),
    ("java.lang.Float", "boxed", "D"),  # Float_CustomFieldSerializer writes a double token
    ("java.lang.Double", "boxed", "D"),
    ("java.lang.Character", "boxed", "C"),
    ("java.lang.String", "string", ""),
    ("java.util.Date", "date", ""),
    ("java.sql.Date", "date", ""),
    ("java.sql.Time", "date", ""),
    ("java.sql.Timestamp", "timestamp", ""),
    ("java.math.BigDecimal", "bignum", ""),
    ("java.math.BigInteger", "bignum", ""),
    ("java.util.ArrayList", "list", ""),
    ("java.util.LinkedList", "list", ""),
    ("java.util.Vector", "list", ""),
    ("java.util.HashSet", "list", ""),
    ("java.util.LinkedHashSet", "list", ""),
    ("java.util.TreeSet", "treeset", ""),
    ("java.util.HashMap", "map", ""),
    ("java.util.IdentityHashMap", "map", ""),
    ("java.util.LinkedHashMap", "linkedmap", ""),
    ("java.util.TreeMap", "treemap", ""),
]

BUILTINS: dict[str, Builtin] = {name: Builtin(name, kind, letter) for name, kind, letter in _SPECS}

BOOLEAN = BUILTINS["java.lang.Boolean"].signature
LONG = BUILTINS["java.lang.Long"].signature
INTEGER = BUILTINS["java.lang.Integer"].signature
STRING = BUILTINS["java.lang.String"].signature
ARRAYLIST = BUILTINS["java.util.ArrayList"].signature
HASHMAP = BUILTINS["java.util.HashMap"].signature

#: Final classes whose value prints plain in a slot declared with that very class
#: (docs/json-form.md).
FINAL_BOXES = frozenset(
    f"java.lang.{n}"
    for n in ("String", "Boolean", "Byte", "Short", "Integer", "Long", "Float", "Double", "Character")
)

#: Declared types that do not fix the runtime class, and what a plain value boxes to there.
OPEN_TYPES = frozenset(
    {
        "java.lang.Object", "java.io.Serializable", "java.lang.Comparable", "java.lang.CharSequence",
        "java.lang.Number", "com.google.gwt.user.client.rpc.IsSerializable",
    }
)
LIST_INTERFACES = frozenset(
    {"java.util.List", "java.util.Collection", "java.lang.Iterable", "java.util.AbstractList",
     "java.util.AbstractCollection"}
)
SET_INTERFACES = frozenset({"java.util.Set", "java.util.AbstractSet"})
MAP_INTERFACES = frozenset({"java.util.Map", "java.util.AbstractMap"})

#: Throwables and GWT's RPC classes, in the schema-file format (docs/schema-format.md).
GWT_SCHEMAS: dict[str, dict[str, object]] = {
    "java.lang.Throwable": {"fields": [["detailMessage", "java.lang.String"]]},
    "java.lang.Exception": {"fields": [], "extends": "java.lang.Throwable"},
    "java.lang.RuntimeException": {"fields": [], "extends": "java.lang.Exception"},
    "java.lang.IllegalArgumentException": {"fields": [], "extends": "java.lang.RuntimeException"},
    "java.lang.IllegalStateException": {"fields": [], "extends": "java.lang.RuntimeException"},
    "java.lang.NullPointerException": {"fields": [], "extends": "java.lang.RuntimeException"},
    "java.lang.UnsupportedOperationException": {
        "fields": [], "extends": "java.lang.RuntimeException"
    },
    "com.google.gwt.user.client.rpc.IncompatibleRemoteServiceException": {
        "fields": [],
        "extends": "java.lang.RuntimeException",
        "signature": "com.google.gwt.user.client.rpc.IncompatibleRemoteServiceException/3936916533",
    },
    "com.google.gwt.user.client.rpc.SerializationException": {
        "fields": [], "extends": "java.lang.Exception"
    },
    "com.google.gwt.user.client.rpc.RpcTokenException": {
        "fields": [], "extends": "java.lang.RuntimeException"
    },
    "com.google.gwt.user.client.rpc.XsrfToken": {
        "fields": [["token", "java.lang.String"]],
        "signature": "com.google.gwt.user.client.rpc.XsrfToken/4254043109",
    },
}

INCOMPATIBLE = "com.google.gwt.user.client.rpc.IncompatibleRemoteServiceException"
