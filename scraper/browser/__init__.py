"""Browser side of vats: finding and launching Chromium, the logged-in session, capture."""
