"""What a user can do about a typed error, chosen by its ``kind`` (scraper/errors.py).

Why here: the codec and the browser layer state facts ("unknown class X"); only the CLI knows
its own options, so only the CLI turns a fact into advice naming one.
"""

from __future__ import annotations

from scraper.errors import VatsError

#: advice by error kind, for every command that has a ``--schema`` option
_BY_KIND = {
    "unknown-class": "add its layout with --schema FILE",
}


#: what a response whose value is a bare primitive or string fails with when read as an object
#: (``//OK[5,[],0,7]``: the 5 is taken for a type index; a string index likewise)
_RETURN_TYPE_KINDS = frozenset({"trailing-tokens", "type-index-out-of-range",
                                "string-index-out-of-range"})


def hint(exc: VatsError, *, returns_given: bool = True) -> str:
    """``"; <advice>"`` to append to the error's message, or ``""`` when there is none.

    ``returns_given``: whether the user declared a response's return type (``vats gwt decode
    --returns``); tokens left after an answer's value usually mean it was not the default.
    """
    if exc.kind in _RETURN_TYPE_KINDS and not returns_given:
        return "; is the return type right? see --returns"
    advice = _BY_KIND.get(exc.kind)
    return f"; {advice}" if advice else ""
