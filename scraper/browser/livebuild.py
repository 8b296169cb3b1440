"""The live build's class layouts, as the session decodes and encodes with them.

Derived from the permutation the app loaded (``scraper.gwt.permutation``), cached on disk by its
strong name (a strong name is the hash of the compiled code, so the file never goes stale), and
named by the cabinet profile's schema (``CabinetProfile.schema``) only where that is certain. A
``--schema`` file of the user's overrides both. When a permutation cannot be derived from (no
RPC tables with type names), the session keeps decoding with our schema alone and says so once.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scraper.errors import DriftError, PermutationError
from scraper.gwt import Instance, Registry
from scraper.gwt.permutation import DerivedBuild, derive_permutation
from scraper.gwt.permutation.model import build_from_json, build_to_json
from scraper.gwt.permutation.overlay import Binder, ClassDrift, Overlaid, apply_overlay

if TYPE_CHECKING:
    from scraper.profile import CabinetProfile

log = logging.getLogger(__name__)


@dataclass
class LiveBuild:
    """One build's registry and the binder that puts our names on its objects; ``needs`` are
    the fields each flow reads, by our class name (``CabinetProfile.needs``)."""

    registry: Registry
    needs: Mapping[str, frozenset[str]] = field(default_factory=dict)
    derived: DerivedBuild | None = None
    overlaid: Overlaid | None = None
    binder: Binder | None = None
    schema_file: Path | None = None  # the derived schema written for the user, on drift
    drift_logged: set[str] = field(default_factory=set)

    @property
    def signatures(self) -> dict[str, str]:
        """Every type signature of the live build (class name → ``name/CRC``): the table
        entries, and the proxies' parameter types (an abstract class such as RecordGWTModel has
        no entry, but ``updateForm`` still declares it)."""
        if self.derived is None:
            return {}
        found = {name: t.signature for name, t in self.derived.types.items()}
        for service in self.derived.services:
            for method in service.methods:
                for param in method.params:
                    name, _, crc = param.rpartition("/")
                    if name and crc.isdigit():
                        found.setdefault(name, param)
        return found

    def view(self, value: object, schema_class: str) -> Instance:
        """``value`` with our names (the ``needs`` of ``schema_class`` must resolve)."""
        if not isinstance(value, Instance):
            raise DriftError(f"expected a {schema_class} object, got {type(value).__name__}",
                             schema_class=schema_class, live_class=None, missing=[],
                             report="not an object", schema_file=self._schema_path())
        if self.binder is None:
            return value
        try:
            return self.binder.view(value, schema_class, self.needs.get(schema_class, ()))
        except DriftError as exc:
            raise self._with_file(exc) from None

    def make(self, schema_class: str, values: dict[str, Any], signature: str) -> Instance:
        """A live ``schema_class`` object from our names (``signature`` when not derived)."""
        if self.binder is None:
            return Instance(signature, values)
        try:
            return self.binder.make(schema_class, values)
        except DriftError as exc:
            raise self._with_file(exc) from None

    def _schema_path(self) -> str | None:
        return str(self.schema_file) if self.schema_file else None

    def _with_file(self, exc: DriftError) -> DriftError:
        return DriftError(str(exc) + (f"; the live layouts are in {self.schema_file}: name the "
                                      "slots there and pass it with --schema"
                                      if self.schema_file else ""),
                          schema_class=exc.schema_class, live_class=exc.live_class,
                          missing=exc.missing, report=exc.report,
                          schema_file=self._schema_path())

    def log_drift(self, drift: ClassDrift) -> None:
        key = f"{drift.schema_class}~{drift.live_class}"
        if key not in self.drift_logged:
            self.drift_logged.add(key)
            log.warning("the live build differs from our schema: %s", drift.describe(),
                        extra={"schema_class": drift.schema_class, "live_class": drift.live_class,
                               "unresolved": drift.unresolved})


def build_cache_dir(state_dir: Path) -> Path:
    return state_dir / "builds"


def load_live_build(text: str, strong_name: str, *, profile: CabinetProfile,
                    cache_dir: Path | None, extra_schemas: Iterable[Path] = (),
                    cached: DerivedBuild | None = None) -> LiveBuild:
    """The live build of ``strong_name`` whose permutation is ``text`` (derived, or read back
    from the cache: ``cached`` when the caller read it already and left ``text`` empty), named
    by ``profile``'s schema and the user's ``--schema`` files."""
    schemas = list(extra_schemas)
    try:
        derived = (cached or cached_build(strong_name, cache_dir)
                   or _derive(text, strong_name, cache_dir))
    except PermutationError as exc:
        log.warning("cannot derive layouts from the permutation; decoding with our schema alone",
                    extra={"permutation": strong_name, "reason": exc.kind})
        registry = profile.registry().copy()
        for path in schemas:
            registry.load_schema_file(path)
        return LiveBuild(registry, profile.needs)
    ours = profile.schema()
    overlaid = apply_overlay(derived, ours)
    for path in schemas:
        overlaid.registry.load_schema_file(path)
    live = LiveBuild(overlaid.registry, profile.needs, derived, overlaid)
    live.binder = Binder(derived, ours, overlaid.registry, on_drift=live.log_drift)
    if cache_dir is not None:
        live.schema_file = write_json(cache_dir / f"{strong_name}.schema.json",
                                       derived.to_schema())
    for drift in overlaid.drift:
        if not drift.same and drift.live_class is not None:
            live.log_drift(drift)
    log.info("derived the live build", extra={
        "permutation": strong_name, "classes": len(derived.types),
        "services": [s.path for s in derived.services], "style": derived.style})
    return live


def _derive(text: str, strong_name: str, cache_dir: Path | None) -> DerivedBuild:
    derived = derive_permutation(text)
    if cache_dir is not None:
        write_json(cache_dir / f"{strong_name}.json", build_to_json(derived))
    return derived


def cached_build(strong_name: str, cache_dir: Path | None) -> DerivedBuild | None:
    """The derived build of ``strong_name`` as an earlier session cached it, if any."""
    if cache_dir is None:
        return None
    path = cache_dir / f"{strong_name}.json"
    try:
        return build_from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring an unreadable derived-build cache file",
                    extra={"path": str(path), "error": str(exc)})
        return None


def write_json(path: Path, data: dict[str, Any]) -> Path | None:
    """Atomically, best effort: a cache that cannot be written costs a derivation next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, ensure_ascii=False, indent=1)
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("cannot write %s", path, extra={"error": str(exc)})
        return None
    return path
