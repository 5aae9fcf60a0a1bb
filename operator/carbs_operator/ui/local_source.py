"""Local studies for `carbs ui`: the SQLite state files of `carbs run` (and tune()).

Each path is a state directory (every `<study>.db` in it) or a manifest (its study's state
under `state_dir`). Files are read read-only and rescanned on every list, so a study that
`carbs run` starts while the UI is open appears without a restart. A file's revision is
its size and modification time (and its write-ahead log's): every trial write moves it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from carbs_operator.local.store import StoreError, read_stored_study
from carbs_operator.models import API_VERSION, STUDY_KIND, StudySpec
from carbs_operator.ui.source import JSON, StudyNotFoundError
from carbs_operator.ui.views import StudyRecords, ViewCache
from carbs_operator.validation import ManifestError, load_study

_LOG = logging.getLogger(__name__)
NAMESPACE = "local"


@dataclass(frozen=True)
class _Found:
    key: str
    db: Path
    manifest: Path | None


class LocalSource:
    """The studies under `paths` (state directories or manifests)."""

    def __init__(self, paths: Sequence[Path], state_dir: Path = Path(".carbs")) -> None:
        self.paths = list(paths)
        self.state_dir = state_dir
        self._views = ViewCache()
        # What each study's files held when last read, by its files and their revision: a
        # poll or a second page of an unchanged study does not reread its trial rows.
        self._read: dict[str, tuple[tuple[object, ...], StudyRecords]] = {}

    def _scan(self) -> dict[str, _Found]:
        found: dict[str, _Found] = {}

        def add(db: Path, manifest: Path | None) -> None:
            key = db.stem
            if key in found and found[key].db.resolve() != db.resolve():
                key = f"{db.stem}-{len(found)}"
            found.setdefault(key, _Found(key, db, manifest))

        for path in self.paths:
            if path.is_dir():
                for db in sorted(path.glob("*.db")):
                    add(db, None)
            elif path.is_file():
                try:
                    study = load_study(path)
                except ManifestError as error:
                    _LOG.warning("%s: %s", path, "; ".join(str(p) for p in error.problems))
                    continue
                db = self.state_dir / f"{study.metadata.name}.db"
                if db.exists():
                    add(db, path)
        return found

    def _records(self, found: _Found) -> StudyRecords:
        revision = _revision(found)
        stamp = (found, revision)
        cached = self._read.get(found.key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        records = self._read_records(found, revision)
        self._read[found.key] = (stamp, records)
        return records

    def _read_records(self, found: _Found, revision: str) -> StudyRecords:
        stored = read_stored_study(found.db)
        spec_data = stored.spec
        name = stored.name or found.db.stem
        if found.manifest is not None:
            study = load_study(found.manifest)
            spec, name = study.spec, study.metadata.name or name
        elif spec_data is not None:
            spec = StudySpec.model_validate(spec_data)
        else:
            raise StoreError(f"{found.db} was written before state files kept their spec: "
                             f"open it with `carbs ui STUDY.yaml --state-dir "
                             f"{found.db.parent}`")
        manifest = {"apiVersion": API_VERSION, "kind": STUDY_KIND, "metadata": {"name": name},
                    "spec": spec.model_dump(mode="json", by_alias=True, exclude_none=True)}
        return StudyRecords(key=found.key, name=name, namespace=NAMESPACE, source="local",
                            revision=revision, spec=spec, trials=tuple(stored.trials),
                            manifest=manifest)

    def _one(self, key: str) -> StudyRecords:
        found = self._scan().get(key)
        if found is None:
            raise StudyNotFoundError(key)
        return self._records(found)

    def studies(self) -> list[JSON]:
        out = []
        scanned = self._scan()
        for found in scanned.values():
            try:
                out.append(self._views.summary(self._records(found)))
            except (StoreError, ValidationError, ManifestError) as error:
                _LOG.warning("%s: skipped: %s", found.db, error)
        self._views.forget_except(list(scanned))
        for key in set(self._read) - set(scanned):
            del self._read[key]
        return out

    def revision(self, key: str) -> str:
        found = self._scan().get(key)
        if found is None:
            raise StudyNotFoundError(key)
        return _revision(found)

    def view(self, key: str) -> JSON:
        return self._views.view(self._one(key))

    def curves(self, key: str) -> JSON:
        return self._views.curves(self._one(key))

    def trial(self, key: str, index: int) -> JSON | None:
        return self._views.trial(self._one(key), index, None)

    def importance(self, key: str) -> JSON:
        return self._views.importance(self._one(key))

    def predict(self, key: str, cost: float) -> JSON:
        return self._views.predict(self._one(key), cost)


def _revision(found: _Found) -> str:
    """Size and mtime of the state file and its WAL (any committed write moves one of them),
    and of the manifest where the study was named by one (an edited spec is a new view)."""
    parts = []
    files = [found.db, found.db.with_name(found.db.name + "-wal")]
    for path in [*files, *([found.manifest] if found.manifest is not None else [])]:
        try:
            stat = path.stat()
        except FileNotFoundError:
            stat = None
        if stat is None or stat.st_size == 0:  # an empty WAL, as a reader's open leaves one
            parts.append("0-0")
            continue
        parts.append(f"{stat.st_mtime_ns:x}-{stat.st_size:x}")
    return ".".join(parts)
