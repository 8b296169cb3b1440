"""Where the tests find their data: everything lives in this repository (``tests/data/``)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
#: genuine GWT 2.7.0 serializer output with the expected decodes (tests/data/gwt-vectors/README.md)
VECTORS = DATA / "gwt-vectors"
