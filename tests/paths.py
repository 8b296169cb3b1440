"""Where the tests find the facts we were given (``../shared`` beside the checkout)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VATS_SHARED", REPO.parent / "shared"))
VECTORS = SHARED / "gwt-rpc" / "vectors"
