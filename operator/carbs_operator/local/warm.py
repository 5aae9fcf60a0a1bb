"""Warm start for `carbs run`: the source studies' trials come from their SQLite state.

Sources are the studies named in `spec.warmStart.fromStudies` and those of the manifests
given with `carbs run --warm-start OTHER.yaml`, each read from `<state dir>/<name>.db`
(read-only use; a source may still be running, SQLite's WAL lets it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from carbs_operator.local.store import TrialStore
from carbs_operator.models import CarbsStudy
from carbs_operator.study import TrialRecord
from carbs_operator.validation import load_study
from carbs_operator.warmstart import Seeds, seed_records, source_names


def local_seeds(study: CarbsStudy, state_dir: Path, manifests: Sequence[Path] = ()) -> Seeds:
    """The seeds of `study` (ManifestError when a --warm-start manifest is invalid)."""
    name = study.metadata.name or "study"
    names = source_names(study.spec, name)
    for manifest in manifests:
        other = load_study(manifest).metadata.name or "study"
        if other != name and other not in names:
            names.append(other)
    sources: list[tuple[str, list[TrialRecord] | None]] = []
    for source in names:
        path = state_dir / f"{source}.db"
        if not path.is_file():
            sources.append((source, None))
            continue
        with TrialStore(path) as store:
            sources.append((source, store.trials()))
    return seed_records(study.spec, sources)


def describe(seeds: Seeds) -> str:
    """One line for the console."""
    line = f"warm start: {len(seeds.records)} trial(s) observed, {seeds.skipped} skipped"
    if seeds.missing_studies:
        line += f"; no state for {', '.join(seeds.missing_studies)}"
    return line
