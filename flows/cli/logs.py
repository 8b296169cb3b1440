"""Logging for the CLI: the only place that installs handlers (libraries only emit).

Lines are ``time level logger message key=value…`` with the structured ``extra`` fields, and
pass through the run's ``Redactor`` so no secret reaches a terminal or a log file.
"""

from __future__ import annotations

import logging
import sys

from scraper.browser.redact import Redactor

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extras = [f"{k}={v}" for k, v in record.__dict__.items()
                  if k not in _STANDARD and not k.startswith("_")]
        return base + ("  " + " ".join(extras) if extras else "")


def configure(verbosity: int, redactor: Redactor) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(redactor.logging_filter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("asyncio", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
