"""GWT's base-64 encoding of Java ``long``.

Why our own: the GWT server silently reads unknown digits as 0, so a client that gets this wrong
is never told; we are strict on decode and exact on encode.
"""

from __future__ import annotations

from scraper.errors import DecodeError, EncodeError

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789$_"
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
_MASK = (1 << 64) - 1
LONG_MIN = -(1 << 63)
LONG_MAX = (1 << 63) - 1


def encode_long(value: int) -> str:
    """Encode a signed 64-bit integer as GWT writes it (``0`` → ``A``, ``-1`` → ``P__________``)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise EncodeError(f"a long must be an int, got {type(value).__name__}")
    if not LONG_MIN <= value <= LONG_MAX:
        raise EncodeError(f"{value} does not fit in a Java long")
    bits = value & _MASK
    # one 4-bit group (bits 63..60) then ten 6-bit groups; leading zero groups are skipped
    # and the last group is always kept (so zero is "A")
    text = "".join(ALPHABET[(bits >> shift) & 0x3F] for shift in range(60, -1, -6)).lstrip("A")
    return text or "A"


def decode_long(text: str, *, position: int | None = None) -> int:
    """Decode GWT's base-64 long; unlike GWT's server we reject unknown digits and overlength."""
    if not text or len(text) > 11:
        raise DecodeError("not a GWT base-64 long", kind="bad-token", position=position,
                          token=text)
    acc = 0
    value = _VALUE.get
    for ch in text:
        digit = value(ch)
        if digit is None:
            raise DecodeError("not a GWT base-64 long", kind="bad-token", position=position,
                              token=text)
        acc = (acc << 6) | digit
    if len(text) == 11 and _VALUE[text[0]] > 15:
        raise DecodeError("GWT base-64 long overflows 64 bits", kind="bad-token",
                          position=position, token=text)
    acc &= _MASK
    return acc - (1 << 64) if acc >> 63 else acc
