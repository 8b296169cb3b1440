import pytest
from hypothesis import given
from hypothesis import strategies as st

from scraper.errors import DecodeError, EncodeError
from scraper.gwt.longs import LONG_MAX, LONG_MIN, decode_long, encode_long

# genuine examples (GWT's own output, vector v04)
GOLDEN = [
    (0, "A"), (1, "B"), (100, "Bk"), (127, "B_"), (128, "CA"), (10, "K"),
    (2583802013, "CaAbCd"), (2**32, "EAAAAA"), (2**53, "gAAAAAAAA"), (2**53 + 1, "gAAAAAAAB"),
    (LONG_MAX, "H__________"), (-1, "P__________"), (-2, "P_________$"),
    (-(2**32), "P____8AAAAA"), (LONG_MIN, "IAAAAAAAAAA"), (2613189773, "CbwhyN"),
]


@pytest.mark.parametrize(("value", "text"), GOLDEN)
def test_golden(value, text):
    assert encode_long(value) == text
    assert decode_long(text) == value


@given(st.integers(min_value=LONG_MIN, max_value=LONG_MAX))
def test_round_trip(value):
    text = encode_long(value)
    assert decode_long(text) == value
    assert len(text) <= 11


@pytest.mark.parametrize("bad", ["", "-1", "A A", "AAAAAAAAAAAA", "Q__________", "é"])
def test_garbage_is_a_typed_error(bad):
    with pytest.raises(DecodeError):
        decode_long(bad)


@pytest.mark.parametrize("bad", [2**63, LONG_MIN - 1, 1.5, True, "1"])
def test_unencodable(bad):
    with pytest.raises(EncodeError):
        encode_long(bad)
