"""Asset checks of ``embeddings`` (per episode) and ``search_index``, built on cast_pipeline.search.checks.

Together they guarantee what search relies on: every non-blank transcript phrase has one unit vector
from the configured model (``phrases_embedded``, per episode: transcript vs. embeddings.parquet), and
the index holds exactly the embedded phrases, no more, no fewer, from that model (``rows_match_embeddings``
and ``model_is_configured``: embeddings files vs. index rows).

Why ``phrases_embedded`` yields one ``AssetCheckEvaluation`` per partition: episodes are processed in
ranged runs (up to 25 per run), and an ``AssetCheckResult`` can only name the run's single partition key
(in a ranged run it has none), while an evaluation carries its own ``partition``. Partitioned checks are
new in Dagster 1.13; this shape keeps one result per episode in the UI whatever the run's range.

No ``from __future__ import annotations`` here: Dagster reads the ``context`` annotations at runtime.
"""

import warnings
from collections.abc import Iterator

import dagster as dg

from cast_pipeline.defs.feeds.partitions import episodes_partitions
from cast_pipeline.defs.search.assets import EMBEDDINGS_KEY, SEARCH_INDEX_KEY
from cast_pipeline.defs.search.resources import EmbeddingModel
from cast_pipeline.defs.storage.resources import CastResource
from cast_pipeline.paths import DataPaths
from cast_pipeline.search.checks import CheckOutcome, check_episode_embeddings, check_index_counts, check_index_model
from cast_pipeline.search.embeddings import EMBEDDINGS_FILE
from cast_pipeline.transcripts.store import TRANSCRIPT_JSON, load_transcript

PHRASES_EMBEDDED = "phrases_embedded"
ROWS_MATCH = "rows_match_embeddings"
MODEL_CONFIGURED = "model_is_configured"

# Partitioned checks are a 1.13 preview; we rely on them knowingly (see above), so say it once here.
warnings.filterwarnings(
    "ignore",
    message="Specifying a partitions_def on an AssetCheckSpec",
    category=dg.PreviewWarning,
)


def episode_outcome(paths: DataPaths, key: str, model: str) -> CheckOutcome:
    """The per-episode rule, including episodes that have no transcript yet (nothing to embed)."""
    if not paths.episode_file(key, TRANSCRIPT_JSON).is_file():
        if paths.episode_file(key, EMBEDDINGS_FILE).is_file():
            return CheckOutcome(False, "embeddings exist but the episode has no transcript.json")
        return CheckOutcome(True, "no transcript yet (awaiting audio): nothing to embed", {"segments": 0})
    return check_episode_embeddings(paths, key, load_transcript(paths, key).segments, model)


@dg.asset_check(
    asset=EMBEDDINGS_KEY,
    name=PHRASES_EMBEDDED,
    partitions_def=episodes_partitions,
    description="Every non-blank transcript phrase has exactly one unit vector from the configured embedding "
    "model, with the phrase's current text (fails for a missing, stale or foreign-model embeddings.parquet).",
)
def phrases_embedded(
    context: dg.AssetCheckExecutionContext, cast: CastResource, embedding_model: EmbeddingModel
) -> Iterator[dg.AssetCheckEvaluation | dg.Output]:
    paths, model = cast.paths(), embedding_model.name()
    for key in context.partition_keys:
        outcome = episode_outcome(paths, key, model)
        yield dg.AssetCheckEvaluation(
            asset_key=EMBEDDINGS_KEY,
            check_name=PHRASES_EMBEDDED,
            passed=outcome.passed,
            partition=key,
            description=outcome.description,
            metadata=outcome.metadata,
        )
    yield dg.Output(None, output_name=context.op_def.output_defs[0].name)


def _result(outcome: CheckOutcome) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=outcome.passed, description=outcome.description, metadata=outcome.metadata)


@dg.asset_check(
    asset=SEARCH_INDEX_KEY,
    name=ROWS_MATCH,
    description="The index holds exactly one row per embedded phrase of every embedded episode (no duplicates, "
    "no leftovers of removed episodes), all from the index's model.",
)
def rows_match_embeddings(cast: CastResource) -> dg.AssetCheckResult:
    return _result(check_index_counts(cast.paths()))


@dg.asset_check(
    asset=SEARCH_INDEX_KEY,
    name=MODEL_CONFIGURED,
    description="The index was built with the configured embedding model (else: re-embed, then the index "
    "rebuilds itself).",
)
def model_is_configured(cast: CastResource, embedding_model: EmbeddingModel) -> dg.AssetCheckResult:
    return _result(check_index_model(cast.paths(), embedding_model.configured))


SEARCH_CHECKS = [phrases_embedded, rows_match_embeddings, model_is_configured]
