"""Plain functions behind the Dagster asset checks of the embeddings and search_index assets.

Why separate from the checks: the rules ("every phrase has a vector from the configured model", "the
index holds exactly the embedded phrases") are testable without Dagster, and the CLI can run them too.
Each returns a :class:`CheckOutcome`; the asset check turns it into an ``AssetCheckResult``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from cast_pipeline.paths import DataPaths
from cast_pipeline.search import store
from cast_pipeline.search.embeddings import EMBEDDINGS_FILE, read_episode_embeddings, resolve_model, table_model
from cast_pipeline.search.index import embedded_episode_keys
from cast_pipeline.search.passages import split_passages
from cast_pipeline.segments import Segment

_NORM_TOLERANCE = 1e-3
_SHOWN = 5  # examples listed in a failure message


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


def check_episode_embeddings(
    paths: DataPaths, episode_key: str, segments: Sequence[Segment], model: str
) -> CheckOutcome:
    """Every passage of every non-blank transcript segment has one unit vector from ``model`` (nothing else)."""
    try:
        table = read_episode_embeddings(paths, episode_key)
    except (FileNotFoundError, ValueError) as exc:
        return CheckOutcome(False, str(exc))
    wanted_model = resolve_model(model)[0]
    got_model = table_model(table)
    if got_model != wanted_model:
        return CheckOutcome(
            False, f"embedded with {got_model!r}, configured model is {wanted_model!r}: re-embed", {"model": got_model}
        )
    expected = {(p.segment_index, p.passage_index): p.text for p in split_passages(segments)}
    places = zip(table.column("segment_index").to_pylist(), table.column("passage_index").to_pylist(), strict=True)
    stored = dict(zip(places, table.column("text").to_pylist(), strict=True))
    missing = sorted(set(expected) - set(stored))
    extra = sorted(set(stored) - set(expected))
    changed = sorted(i for i in set(expected) & set(stored) if expected[i] != stored[i])
    phrases = len({i for i, _ in expected})
    meta = {"segments": phrases, "passages": len(expected), "vectors": table.num_rows, "model": got_model}
    if missing or extra or changed or table.num_rows != len(stored):
        problems = [
            f"{name}: {sorted({phrase for phrase, _ in idx})[:_SHOWN]}"  # phrase (segment) indexes
            for name, idx in (("no vector", missing), ("not in transcript", extra), ("text changed", changed))
            if idx
        ] or ["duplicate segment indexes"]
        return CheckOutcome(False, "embeddings out of date with the transcript (" + "; ".join(problems) + ")", meta)
    vectors = table.column("vector").combine_chunks().flatten().to_numpy().reshape(table.num_rows, -1)
    norms = np.linalg.norm(vectors, axis=1) if table.num_rows else np.ones(0)
    bad = np.flatnonzero(~np.isfinite(norms) | (np.abs(norms - 1.0) > _NORM_TOLERANCE))
    if bad.size:
        return CheckOutcome(
            False, f"{bad.size} vectors are not finite unit vectors (rows {bad[:_SHOWN].tolist()})", meta
        )
    return CheckOutcome(True, f"{phrases} segments ({len(expected)} passages) embedded with {got_model}", meta)


def check_index_counts(paths: DataPaths, expected: Mapping[str, int] | None = None) -> CheckOutcome:
    """The index holds exactly ``expected`` rows per episode (default: each ``embeddings.parquet``'s rows).

    Also checks that every row carries the index's model and that the episodes table lists exactly the
    embedded episodes (including those whose transcript had no text).
    """
    manifest = store.read_manifest(paths)
    if manifest is None:
        return CheckOutcome(False, f"no search index in {paths.search_dir}; materialise search_index")
    if expected is None:
        expected = {
            key: pq.read_metadata(paths.episode_file(key, EMBEDDINGS_FILE)).num_rows
            for key in embedded_episode_keys(paths)
        }
    db = store.connect(paths, manifest.generation)
    rows = db.open_table(store.SEGMENTS).search().select(["episode_key", "model"]).limit(None).to_arrow()
    indexed = Counter(rows.column("episode_key").to_pylist())
    models = Counter(rows.column("model").to_pylist())
    episode_rows = db.open_table(store.EPISODES).search().select(["episode_key"]).limit(None).to_arrow()
    listed = set(episode_rows.column("episode_key").to_pylist())
    wanted = {k: n for k, n in expected.items() if n > 0}
    wrong = {k: (indexed.get(k, 0), n) for k, n in wanted.items() if indexed.get(k, 0) != n}
    unexpected = sorted(set(indexed) - set(wanted))
    meta = {
        "segments": rows.num_rows,
        "episodes": len(indexed),
        "expected_segments": sum(wanted.values()),
        "model": manifest.model,
    }
    problems = []
    if wrong:
        problems.append(
            f"{len(wrong)} episodes with wrong counts (indexed, expected): {dict(list(wrong.items())[:_SHOWN])}"
        )
    if unexpected:
        problems.append(f"{len(unexpected)} indexed episodes have no embeddings: {unexpected[:_SHOWN]}")
    if set(models) - {manifest.model}:
        problems.append(f"rows from other models than {manifest.model}: {dict(models)}")
    if listed != set(expected):
        off = sorted(listed ^ set(expected))
        problems.append(f"episodes table differs from the embedded episodes in {len(off)}: {off[:_SHOWN]}")
    if problems:
        return CheckOutcome(False, "; ".join(problems), meta)
    return CheckOutcome(True, f"{rows.num_rows} segments of {len(indexed)} episodes indexed ({manifest.model})", meta)


def check_index_model(paths: DataPaths, model: str) -> CheckOutcome:
    """The index was built with the configured embedding model (else: re-embed, then rebuild)."""
    manifest = store.read_manifest(paths)
    if manifest is None:
        return CheckOutcome(False, f"no search index in {paths.search_dir}; materialise search_index")
    wanted = resolve_model(model)[0]
    if manifest.model != wanted:
        return CheckOutcome(
            False,
            f"index built with {manifest.model!r}, configured model is {wanted!r}: re-embed and rebuild the index",
            {"model": manifest.model},
        )
    return CheckOutcome(True, f"index model is {wanted}", {"model": manifest.model})
