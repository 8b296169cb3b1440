"""Where the tests find the facts we were given (``../shared`` beside the checkout)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VATS_SHARED", REPO.parent / "shared"))
VECTORS = SHARED / "gwt-rpc" / "vectors"


def require_shared() -> bool:
    """True when ../shared is here; in CI (where it must be) its absence fails instead of skipping."""
    if SHARED.is_dir():
        return True
    if os.environ.get("CI"):
        raise RuntimeError(f"../shared not found at {SHARED} (set VATS_SHARED)")
    return False
