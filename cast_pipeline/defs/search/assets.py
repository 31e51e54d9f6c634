"""``embeddings`` (per episode) and ``search_index`` (one, single writer): what makes transcripts searchable.

``embeddings`` turns an episode's merged transcript phrases into vectors (``embeddings.parquet``). It
sits in the same runs as ``transcript`` (the ``episodes_job`` and ``transcript_job`` select every
per-episode asset), so a batch ends embedded; an eager automation condition covers transcripts made
any other way (a UI materialisation, a backfill of ``transcript`` alone). Its code version carries the
model name, so after changing CAST_EMBEDDING_MODEL the UI marks every partition embedded with the old
model as changed; materialise them (a backfill) to re-embed.

``search_index`` is unpartitioned on purpose: it is the only writer of ``search/`` (LanceDB commits of
two writers conflict, and DuckDB allows one writing process per file). Three things keep it single:
no partitions (one step per run), ``pool="search_index"`` (the instance's ``pools.default_limit: 1``
in both dagster.yaml files allows one such step at a time across runs), and the writer lock of
:func:`cast_pipeline.search.sync.sync_index` for writers outside Dagster's pools. Each run updates only
episodes whose embeddings changed since the previous one, replacing their rows.

No ``from __future__ import annotations`` here: Dagster reads the ``context`` annotations at runtime.
"""

import time
from typing import Any

import dagster as dg

from cast_pipeline.defs.batching import per_episode
from cast_pipeline.defs.feeds.assets import OWNERS
from cast_pipeline.defs.feeds.partitions import FIND_BY_TITLE, episode_backfill_policy, episodes_partitions
from cast_pipeline.defs.search.resources import EmbeddingModel, describe_model
from cast_pipeline.defs.speech.keys import TRANSCRIPT_KEY
from cast_pipeline.defs.storage.resources import CastResource
from cast_pipeline.feeds.snapshot import load_episode
from cast_pipeline.integrity import files_metadata
from cast_pipeline.search import embed_episode, write_episode_embeddings
from cast_pipeline.search.checks import check_episode_embeddings
from cast_pipeline.search.embeddings import EMBEDDING_FORMAT, EMBEDDINGS_FILE
from cast_pipeline.search.sync import sync_index
from cast_pipeline.transcripts.store import TRANSCRIPT_JSON, load_transcript

EMBEDDINGS_KEY = dg.AssetKey("embeddings")
SEARCH_INDEX_KEY = dg.AssetKey("search_index")
SEARCH_GROUP = "search"
SEARCH_INDEX_POOL = "search_index"
# Part of the embeddings code version: changes when the way phrases become vectors changes (the format
# stored in embeddings.parquet, so files of an older format are re-embedded).
EMBEDDING_METHOD = EMBEDDING_FORMAT

NO_TRANSCRIPT = "no_transcript"
EMBEDDED = "embedded"
UNCHANGED = "unchanged"

# Index as soon as embeddings change. Unlike plain eager(), do not wait for every episode's embeddings:
# with one partition per episode some are always missing (awaiting audio, failed, just added), and
# the index must not wait for them. It still waits while embeddings runs are in progress.
INDEX_CONDITION = dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing())


def embeddings_code_version(model: EmbeddingModel) -> str:
    """``<method>:<model>``: a model change (or a new method) marks embedded partitions as changed."""
    return f"{EMBEDDING_METHOD}:{describe_model(model)}"


def build_embeddings_asset(model: EmbeddingModel) -> dg.AssetsDefinition:
    """The ``embeddings`` asset; ``model`` must be the ``embedding_model`` resource bound with it."""

    @dg.asset(
        key=EMBEDDINGS_KEY,
        partitions_def=episodes_partitions,
        deps=[TRANSCRIPT_KEY],
        backfill_policy=episode_backfill_policy,
        group_name=SEARCH_GROUP,
        kinds={"parquet"},
        owners=OWNERS,
        tags={"domain": "search"},
        code_version=embeddings_code_version(model),
        automation_condition=dg.AutomationCondition.eager(),
        description="One vector per passage of each merged transcript phrase (sentence-transformers, "
        "CAST_EMBEDDING_MODEL; phrases over 400 characters are split into passages of 1-3 sentences with "
        "interpolated times, passages still longer than the model's window are embedded in chunks and "
        "pooled) -> embeddings.parquet. "
        "Episodes without a transcript yet: status no_transcript, nothing written. Already embedded with "
        "the same model and text: status unchanged, nothing rewritten." + FIND_BY_TITLE,
    )
    def embeddings(context: dg.AssetExecutionContext, cast: CastResource, embedding_model: EmbeddingModel):
        paths = cast.paths()
        model_name = embedding_model.name()

        def work(key: str) -> dict[str, Any]:
            if not paths.episode_file(key, TRANSCRIPT_JSON).is_file():
                context.log.info(f"episode {key}: no transcript yet (awaiting audio), nothing to embed")
                return {"title": load_episode(paths, key).title, "status": NO_TRANSCRIPT, "model": model_name}
            doc = load_transcript(paths, key)
            phrases = sum(1 for s in doc.segments if s.text.strip())
            title, feed = doc.meta.get("title") or key, doc.meta.get("feed_title") or ""
            base = {"title": title, "feed": feed, "model": model_name}
            if check_episode_embeddings(paths, key, doc.segments, model_name).passed:
                written = files_metadata(paths.episode_dir(key), [EMBEDDINGS_FILE])
                return {**base, "status": UNCHANGED, "phrases": phrases, **written}  # passages: unchanged too
            embedder = embedding_model.embedder()
            began = time.monotonic()
            table = embed_episode(key, doc.segments, embedder)
            target = write_episode_embeddings(paths, key, table)
            return {
                **base,
                "status": EMBEDDED,
                "phrases": phrases,
                "passages": table.num_rows,  # rows: long phrases are split into passages
                "dimensions": embedder.dim,
                "seconds": round(time.monotonic() - began, 3),
                "path": str(target),
                **files_metadata(target.parent, [target.name]),
            }

        yield from per_episode(context, work)

    return embeddings


@dg.asset(
    key=SEARCH_INDEX_KEY,
    deps=[dg.AssetDep(EMBEDDINGS_KEY, partition_mapping=dg.AllPartitionMapping())],
    group_name=SEARCH_GROUP,
    kinds={"lancedb", "duckdb"},
    owners=OWNERS,
    tags={"domain": "search"},
    pool=SEARCH_INDEX_POOL,
    automation_condition=INDEX_CONDITION,
    description="The search index under search/: LanceDB (vectors + full text per language) and a DuckDB "
    "snapshot for analytics. Incremental: only episodes whose embeddings changed since the last build are "
    "updated (their rows replaced, never duplicated); episodes whose embeddings are gone are removed. "
    "Single writer (unpartitioned, pool search_index).",
)
def search_index(context: dg.AssetExecutionContext, cast: CastResource, embedding_model: EmbeddingModel):
    paths = cast.paths()
    result = sync_index(paths, embedding_model.name())
    if result.repaired:
        context.log.warning(f"search index was damaged, rebuilt from the episodes' files: {result.repaired}")
    context.log.info(
        f"search index {result.status}: {len(result.updated)} episodes updated, {len(result.removed)} removed, "
        f"{result.segments} phrases of {result.episodes} episodes in {result.seconds} s"
    )
    if result.other_model:
        context.log.warning(
            f"{len(result.other_model)} episodes are embedded with another model than {result.model} and are "
            f"not indexed (materialise their embeddings again): {result.other_model[:5]}"
        )
    return dg.MaterializeResult(
        metadata={
            "status": result.status,
            "rows": result.segments,
            "episodes": result.episodes,
            "model": result.model,
            "build_seconds": result.seconds,
            "updated_episodes": len(result.updated),
            "removed_episodes": len(result.removed),
            "other_model_episodes": len(result.other_model),
            "generation": result.generation or "none",
            "timings": dg.MetadataValue.json(result.timings),
            "path": str(paths.search_dir),
            "repaired": result.repaired or "nothing",
        }
    )
