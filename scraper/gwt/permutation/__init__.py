"""Learn a live build from its compiled permutation (sans-I/O: text in, layouts out).

Modules: ``source`` (unwrap .cache.js/.cache.html, parse), ``jsindex`` (functions and interned
strings), ``tables`` (TypeSerializer entries), ``streams`` (which calls read or write what),
``layouts`` (a class's slots from its field serializer), ``proxies`` (services and methods),
``derive`` (the whole), ``model`` (what comes out, and its schema form).
"""

from scraper.gwt.permutation.derive import derive_permutation
from scraper.gwt.permutation.model import (
    DerivedBuild,
    DerivedMethod,
    DerivedService,
    DerivedType,
    Kind,
    Slot,
    derived_registry,
)

__all__ = ["DerivedBuild", "DerivedMethod", "DerivedService", "DerivedType", "Kind", "Slot",
           "derive_permutation", "derived_registry"]
