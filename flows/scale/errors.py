"""The failures of a job on a worker as the caller sees them (each a ``VatsError`` kind)."""

from __future__ import annotations

from scraper.errors import TransportError, UsageError, VatsError


class AccountBusy(UsageError):
    """The account has a job outstanding: one job per account in flight (two browsers on one
    account would race each other's session and changes)."""

    kind = "busy"


class JobTimeout(TransportError):
    """No result within the engine's timeout: the job may still run (its message expires at
    the timeout, so a job no worker took by then never runs); its outcome is unknown."""

    kind = "job-timeout"


class JobTimeLimit(VatsError):
    """The job ran past its soft time limit: it was cancelled and closed its browser."""

    kind = "time-limit"
