"""Search benchmark: LanceDB full text vs DuckDB BM25 vs PostgreSQL, vector recall, hybrid latency.

Run by hand (minutes at 1M segments; needs ~6 GiB RAM and ~5 GiB disk at 1M)::

    .venv/bin/python bench/bench_search.py                     # 1,000,000 segments
    .venv/bin/python bench/bench_search.py --segments 100000   # quicker
    .venv/bin/python bench/bench_search.py --segments 20000 --no-postgres
    .venv/bin/python bench/bench_search.py --sample 5000 --queries 100 --phases keyword,semantic,hybrid,service \
        --grid 80/5,120/5   # 1M in ~15 min of machine time: the service's code path, recall, no comparisons
    .venv/bin/python bench/bench_search.py --workdir /tmp/b1m --keep ...      # keep the corpus and index, then
    .venv/bin/python bench/bench_search.py --workdir /tmp/b1m --reuse --phases service,baseline   # query again

What it does, and why this way:
- Corpus: synthetic English phrases (Zipf-distributed words from the MiniLM vocabulary, so term
  frequencies look like language), 100 phrases per episode, 20 feeds. The first ``--sample`` phrases get
  real vectors from the bundled model; every other row reuses one of them plus Gaussian noise (cosine
  ~0.93 to its source), which keeps the clustered shape of real embeddings without hours of encoding.
  Caveats: the phrases are random words, so their embeddings have no topics (less clustered than real
  speech), while each embedded phrase has ~50 near-duplicate copies (more than real speech); the exact
  top 10 are often near-ties among copies, and copies crowd a graph index's neighbour lists (HNSW).
- The index is built with the pipeline's own code (per-episode ``embeddings.parquet`` + ``episode.json``,
  then :func:`cast_pipeline.search.rebuild_index`), so its timings are the pipeline's timings.
- Each query phase runs in a fresh process, so its peak RSS is the memory that mode needs.
- The ``service`` phase starts a real ``cast-pipeline serve`` process and queries ``/api/search`` over
  HTTP from this one (ONNX query encoding included) in hybrid, keyword and semantic mode: p50/p95 with
  one client, then with 8 concurrent clients (and their throughput), after reading the index files into
  the page cache (this VM's DAMON reclaim pages out file cache untouched for a minute, which a server
  with free memory does not); ``encode_query_onnx`` vs ``encode_query`` compares the ONNX encoder with
  sentence-transformers in the same process.
- ``--index-type`` picks the vector index (default: the pipeline's, IVF_HNSW_SQ at 1M rows); the
  recall grid then varies ``ef`` instead of ``nprobes``.
- The ``baseline`` phase times today's search path against the one of ``--baseline-ref`` (default
  ``main``), query by query in one process, so a busy machine slows both alike (ratios are comparable).
- Recall@10 of the ANN index is measured against exact brute force (numpy) for a grid of
  ``nprobes`` / ``refine_factor``; keyword results are compared with PostgreSQL ``tsvector`` full-text
  search (OR of the query terms, ``ts_rank``) on the same rows: latency ratio and top-10 overlap.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing as mp
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from cast_pipeline.feeds.model import Episode
from cast_pipeline.feeds.snapshot import save_episode
from cast_pipeline.keys import episode_key, feed_key
from cast_pipeline.paths import DataPaths
from cast_pipeline.search.embeddings import bundled_model_dir, embeddings_schema, write_episode_embeddings

PER_EPISODE = 100
FEEDS = 20
STOP_TEXT = "the and a to of i you it that in is we so like this for but was on just with they what have"
STOP = STOP_TEXT.split()
PHASES = ("keyword", "duckdb", "semantic", "hybrid", "service", "baseline", "postgres")
GRID = [(20, 5), (40, 5), (60, 5), (80, 1), (80, 5), (80, 10), (120, 5)]  # (nprobes, refine_factor)
HNSW_GRID = [(300, 5), (500, 5), (800, 5), (1000, 5), (1500, 5)]  # (ef, refine_factor) for IVF_HNSW_SQ


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def vocabulary() -> list[str]:
    """Whole English words from the MiniLM WordPiece vocabulary, stop words first (Zipf rank order)."""
    words = (bundled_model_dir() / "vocab.txt").read_text(encoding="utf-8").split()
    content = [w for w in words if w.isalpha() and w.isascii() and len(w) >= 3 and w not in STOP]
    np.random.default_rng(1).shuffle(content)
    return STOP + content


def make_texts(n: int, rng: np.random.Generator, words: list[str]) -> list[str]:
    ranks = np.arange(1, len(words) + 1)
    p = 1.0 / ranks**1.05
    p /= p.sum()
    lengths = rng.integers(8, 25, size=n)
    flat = rng.choice(len(words), size=int(lengths.sum()), p=p)
    out, pos = [], 0
    for length in lengths:
        out.append(" ".join(words[i] for i in flat[pos : pos + length]).capitalize() + ".")
        pos += length
    return out


def build_corpus(paths: DataPaths, n: int, sample: int, seed: int) -> tuple[list[str], list[str], np.ndarray]:
    """Episode snapshots + embeddings on disk; returns (texts, episode keys, all vectors) for checking."""
    from cast_pipeline.search import load_embedder

    rng = np.random.default_rng(seed)
    log(f"generating {n:,} phrases")
    texts = make_texts(n, rng, vocabulary())
    embedder = load_embedder()
    sample = min(sample, n)
    log(f"embedding {sample:,} phrases with {embedder.model_name}")
    began = time.monotonic()
    base = embedder.encode(texts[:sample], batch_size=128)
    log(f"  {sample / (time.monotonic() - began):.0f} phrases/s")
    vectors = np.empty((n, embedder.dim), dtype=np.float32)
    vectors[:sample] = base
    if n > sample:
        source = rng.integers(0, sample, size=n - sample)
        for lo in range(sample, n, 200_000):
            hi = min(n, lo + 200_000)
            noisy = base[source[lo - sample : hi - sample]] + rng.normal(0, 0.02, (hi - lo, embedder.dim))
            vectors[lo:hi] = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
    log(f"writing {n // PER_EPISODE:,} episodes (episode.json + embeddings.parquet)")
    import pyarrow as pa

    schema = embeddings_schema(embedder.dim, embedder.model_name)
    keys = []
    start = datetime(2019, 1, 1, tzinfo=UTC)
    for e in range(n // PER_EPISODE):
        f = e % FEEDS
        fk = feed_key(f"https://feed{f}.example/rss")
        key = episode_key(fk, f"ep-{e}")
        keys.append(key)
        lo, hi = e * PER_EPISODE, (e + 1) * PER_EPISODE
        save_episode(paths, Episode(
            key=key, feed_key=fk, feed_url=f"https://feed{f}.example/rss", feed_title=f"Feed {f}", guid=f"ep-{e}",
            title=f"Episode {e}: {texts[lo][:40]}", description=texts[lo + 1], published=start + timedelta(hours=6 * e),
            enclosure_url=f"https://feed{f}.example/{e}.mp3", language="en",
        ))  # fmt: skip
        columns = [
            [key] * PER_EPISODE, list(range(PER_EPISODE)), [0] * PER_EPISODE, [30.0 * i for i in range(PER_EPISODE)],
            [30.0 * i + 28 for i in range(PER_EPISODE)], [None] * PER_EPISODE, texts[lo:hi],
            [embedder.model_name] * PER_EPISODE,
        ]  # fmt: skip
        arrays = [pa.array(c, type=schema.field(i).type) for i, c in enumerate(columns)]
        arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(vectors[lo:hi].reshape(-1)), embedder.dim))
        write_episode_embeddings(paths, key, pa.Table.from_arrays(arrays, schema=schema))
    return texts, keys, vectors


def make_queries(texts: Sequence[str], n: int, rng: np.random.Generator) -> list[str]:
    """1-3 content words from random phrases (so every query has hits, frequent words more often)."""
    queries = []
    while len(queries) < n:
        words = [w.strip(".").lower() for w in texts[int(rng.integers(len(texts)))].split()]
        words = [w for w in words if w not in STOP]
        if words:
            queries.append(" ".join(rng.choice(words, size=min(len(words), int(rng.integers(1, 4))), replace=False)))
    return queries


def timed(fn: Callable[[Any], Any], items: Sequence[Any]) -> tuple[list[float], list[Any]]:
    fn(items[0])  # warm-up (caches, lazy loading)
    latencies, results = [], []
    for item in items:
        began = time.perf_counter()
        results.append(fn(item))
        latencies.append((time.perf_counter() - began) * 1000)
    return latencies, results


def summary(latencies: Sequence[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
        "mean_ms": round(statistics.fmean(ordered), 2),
    }


def peak_rss_mib() -> float:
    """Peak RSS of this process image (VmHWM: unlike ru_maxrss it is not inherited from the parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _ids(hits: Sequence[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(h["episode_key"], int(h["segment_index"])) for h in hits]


# --- query phases (each in its own process) ------------------------------------------------------


def phase_lancedb_keyword(root: str, queries: list[str]) -> dict[str, Any]:
    from cast_pipeline.search import SearchIndex
    from cast_pipeline.search.text import parse_query

    index = SearchIndex.open(DataPaths(Path(root)))
    lat, res = timed(lambda q: _ids(index.keyword_segments(parse_query(q), None, 10)), queries)
    api_lat, _ = timed(lambda q: index.search(q, mode="keyword", limit=10), queries)
    return {"latency": summary(lat), "api_latency": summary(api_lat), "ids": res, "rss_mib": peak_rss_mib()}


def phase_semantic(
    root: str, vectors: np.ndarray, queries: list[str], grid_configs: Sequence[tuple[int, int]] = GRID
) -> dict[str, Any]:
    from cast_pipeline.search import SearchIndex, VectorIndexConfig, load_embedder
    from cast_pipeline.search.text import parse_query

    paths = DataPaths(Path(root))
    dummy = parse_query("x")
    grid = {}
    k = 50  # what a query of the search API asks each retriever for (overfetch(10))
    for width, refine in grid_configs:  # nprobes for IVF, ef for a graph index (IVF_HNSW_SQ)
        index = SearchIndex.open(paths, VectorIndexConfig(nprobes=width, ef=width, refine_factor=refine))
        lat, res = timed(lambda v, ix=index: _ids(ix.semantic_segments(v, dummy, None, k, -1.0)[:10]), list(vectors))
        grid[f"{'ef' if index.hnsw else 'nprobes'}={width}/refine={refine}"] = {"latency": summary(lat), "ids": res}
    model = SearchIndex.open(paths).manifest.model
    embedder = load_embedder(model)
    enc_lat, _ = timed(lambda q: embedder.encode([q]), queries)
    from cast_pipeline.search.onnx_encoder import load_query_encoder

    onnx = load_query_encoder(model)
    onnx_lat, _ = timed(lambda q: onnx.encode([q]), queries)
    return {
        "grid": grid, "encode_latency": summary(enc_lat), "onnx_encode_latency": summary(onnx_lat),
        "rss_mib": peak_rss_mib(),
    }  # fmt: skip


def phase_hybrid(root: str, queries: list[str]) -> dict[str, Any]:
    from cast_pipeline.search import SearchIndex

    index = SearchIndex.open(DataPaths(Path(root)))
    lat, _ = timed(lambda q: index.search(q, mode="hybrid", limit=10), queries)
    feed_lat, _ = timed(lambda q: index.search(q, mode="hybrid", limit=10, feed="Feed 3", since="2021-01-01"), queries)
    return {"latency": summary(lat), "filtered_latency": summary(feed_lat), "rss_mib": peak_rss_mib()}


def prewarm(paths: DataPaths) -> float:
    """Read every file of the live index generation once (into the page cache); returns the seconds taken."""
    from cast_pipeline.search import store

    began = time.monotonic()
    for path in (paths.search_dir / store.require_manifest(paths).generation).rglob("*"):
        if path.is_file():
            with path.open("rb") as f:
                while f.read(1 << 22):
                    pass
    return round(time.monotonic() - began, 1)


def phase_service(root: str, queries: list[str], clients: int = 8) -> dict[str, Any]:
    """The service's code path end to end: a real ``cast-pipeline serve`` process (as a user starts it),
    queried over HTTP from this process (query encoding by the ONNX encoder included), one client at a
    time, then ``clients`` at once. Client and server in separate processes, as for a real user: in one
    process the client's threads would compete with the server for the GIL and inflate its latency.

    One client: the three modes take turns query by query, and each goes first for a third of the
    queries. Why: this VM's speed drifts by 10-30% within minutes, which a mode measured in a block of
    its own would take for its own cost; and the first mode to see a word pays for loading its postings
    (~1-2 ms), which the next mode asking for the same word would not (session 19: hybrid measured first
    on the same 200 queries was 1.7 ms slower than on a second pass).

    Before the single-client queries, and before each mode's concurrent ones, the index files are read
    once (:func:`prewarm`): a server keeps the files it reads in the page cache, but this benchmark's VM
    pages file cache untouched for a minute out (DAMON reclaim), which would turn every query into disk
    reads and make runs incomparable."""
    import subprocess
    import urllib.parse
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor

    from cast_pipeline.search.query import MODES
    from cast_pipeline.serve.runtime import service_url

    env = os.environ | {"CAST_DATA_DIR": root, "CAST_API_TOKEN": ""}
    command = [sys.executable, "-m", "cast_pipeline.cli.main", "serve", "--port", "0"]
    log_file = Path(root) / "serve-bench.log"  # a file, not a pipe: a full pipe would stall the server
    with log_file.open("w", encoding="utf-8") as err:
        server = subprocess.Popen(command, env=env, stderr=err)
    try:
        deadline = time.monotonic() + 300
        while (url := service_url(Path(root))) is None:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"cast-pipeline serve did not start: {log_file.read_text(encoding='utf-8')}")
            time.sleep(0.1)
        base = f"{url}/api/search?"
        while json.load(urllib.request.urlopen(f"{url}/api/health"))["index"].get("exact_rerank") != "memory":
            if time.monotonic() > deadline:  # the vectors did not fit, or the server said why in its log
                break
            time.sleep(0.5)  # the server reads every vector once in the background (see search.rerank)

        def ask(mode: str) -> Callable[[str], float]:
            def one(q: str) -> float:
                began = time.perf_counter()
                with urllib.request.urlopen(base + urllib.parse.urlencode({"q": q, "mode": mode, "limit": 10})) as r:
                    r.read()
                return (time.perf_counter() - began) * 1000

            return one

        out: dict[str, Any] = {"prewarm_seconds": prewarm(DataPaths(Path(root)))}
        for mode in MODES:
            for q in queries[:5]:
                ask(mode)(q)  # warm-up: the first queries of a mode load its lazy parts
        single: dict[str, list[float]] = {mode: [] for mode in MODES}
        for i, q in enumerate(queries):  # modes take turns query by query, each first as often as the others
            for mode in MODES[i % len(MODES) :] + MODES[: i % len(MODES)]:
                single[mode].append(ask(mode)(q))
        for mode in MODES:
            out[mode] = summary(single[mode])
        for mode in MODES:
            out[f"{mode}_prewarm_seconds"] = prewarm(DataPaths(Path(root)))
            with ThreadPoolExecutor(clients) as pool:
                began = time.perf_counter()
                lat = list(pool.map(ask(mode), queries * 2))
                wall = time.perf_counter() - began
            out[f"{mode}_{clients}_clients"] = summary(lat) | {"qps": round(len(lat) / wall, 1)}
        status = Path(f"/proc/{server.pid}/status")
        if status.is_file():  # the server's peak resident memory (Linux)
            peak = next((line.split()[1] for line in status.read_text().splitlines() if line.startswith("VmHWM")), None)
            out["server_rss_mib"] = round(int(peak) / 1024) if peak else None
    finally:
        server.terminate()
        server.wait(timeout=60)
    return out


def _baseline_module(ref: str) -> Any:
    """``cast_pipeline.search.query`` (with its query encoder and row store where ``ref`` has them) as of
    git ``ref``, importable next to today's."""
    import importlib
    import subprocess

    repo = Path(__file__).resolve().parents[1]
    package = Path(tempfile.mkdtemp(prefix="cast-bench-baseline-")) / "baseline_search"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    sources = {}
    for name in ("query", "onnx_encoder", "rowstore"):  # the query loop (aio) is today's: it holds no logic
        shown = subprocess.run(
            ["git", "-C", str(repo), "show", f"{ref}:cast_pipeline/search/{name}.py"], capture_output=True, text=True
        )
        if shown.returncode == 0:
            sources[name] = shown.stdout
    for name, source in sources.items():
        for other in sources:
            source = source.replace(f"cast_pipeline.search.{other} import", f"baseline_search.{other} import")
        (package / f"{name}.py").write_text(source, encoding="utf-8")
    sys.path.insert(0, str(package.parent))
    return importlib.import_module("baseline_search.query")


def phase_baseline(root: str, queries: list[str], ref: str) -> dict[str, Any]:
    """Today's search path against the one of git ``ref``, query by query in one process (so machine
    load hits both alike): p50/p95 of each, today's p50 as a share of the baseline's, and the share of
    queries whose episode rows and segment rows (keys, in order) are the same in both.

    Both answer through the same method (``search_rows`` where the baseline has it, else the DataFrame
    of ``search``), and they take turns going first: the first to ask for a word pays for loading its
    postings, which made a path measured second look ~1-3 ms faster than it was (until session 19 the
    baseline always went first, and through ``search``)."""
    from cast_pipeline.search.query import SearchIndex

    paths = DataPaths(Path(root))
    old = _baseline_module(ref).SearchIndex.open(paths)
    new = SearchIndex.open(paths)
    began = time.monotonic()
    new.rows  # noqa: B018 - loaded once per index version (a service does it at warm-up)
    out: dict[str, Any] = {"ref": ref, "row_store_load_s": round(time.monotonic() - began, 2)}
    for mode in ("hybrid", "keyword", "semantic"):
        method = "search_rows" if hasattr(old, "search_rows") else "search"
        runs = [("baseline", getattr(old, method)), ("today", getattr(new, method))]
        for _, run in runs:
            run(queries[0], mode=mode, limit=10)
        lat: dict[str, list[float]] = {"baseline": [], "today": []}
        same = {"episodes": 0, "segments": 0}
        for i, q in enumerate(queries):
            found = {}
            for name, run in runs[:: 1 if i % 2 else -1]:
                began_q = time.perf_counter()
                rows = run(q, mode=mode, limit=10)
                lat[name].append((time.perf_counter() - began_q) * 1000)
                rows = rows.to_dict("records") if hasattr(rows, "to_dict") else rows
                found[name] = {
                    kind: [(r["episode_key"], r["segment_index"], r["passage_index"]) for r in rows
                           if r["result_type"] == kind[:-1]]
                    for kind in same
                }  # fmt: skip
            for kind in same:
                same[kind] += found["baseline"][kind] == found["today"][kind]
        out[mode] = {name: summary(values) for name, values in lat.items()}
        out[mode]["p50_ratio"] = round(out[mode]["today"]["p50_ms"] / out[mode]["baseline"]["p50_ms"], 2)
        out[mode] |= {f"same_{kind}": round(n / len(queries), 3) for kind, n in same.items()}
    return out | {"load_avg": os.getloadavg()}


def phase_duckdb(root: str, queries: list[str]) -> dict[str, Any]:
    from cast_pipeline.search.analytics import analytics_path, build_keyword_index, connect, keyword_search

    con = connect()
    con.execute(f"ATTACH '{analytics_path(DataPaths(Path(root)))}' AS snap (READ_ONLY)")
    began = time.monotonic()
    con.execute("CREATE TABLE segments AS SELECT episode_key, segment_index, language, text FROM snap.segments")
    copy_s = time.monotonic() - began
    began = time.monotonic()
    table = build_keyword_index(con, "en")
    build_s = time.monotonic() - began
    lat, res = timed(lambda q: [(e, i) for e, i, _ in keyword_search(con, q, table=table, limit=10)], queries)
    return {
        "copy_s": round(copy_s, 1), "build_s": round(build_s, 1), "latency": summary(lat), "ids": res,
        "rss_mib": peak_rss_mib(),
    }  # fmt: skip


def run_phase(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


# --- PostgreSQL ------------------------------------------------------------------------------------


def postgres(dsn: str, texts: list[str], keys: list[str], queries: list[str]) -> dict[str, Any]:
    import psycopg2

    con = psycopg2.connect(dsn)
    con.autocommit = True
    cur = con.cursor()
    table = "cast_bench_segments"
    cur.execute(f"DROP TABLE IF EXISTS {table}")
    cur.execute(f"CREATE UNLOGGED TABLE {table} (id integer PRIMARY KEY, text text NOT NULL)")
    began = time.monotonic()
    buf = io.StringIO("".join(f"{i}\t{t}\n" for i, t in enumerate(texts)))
    cur.copy_expert(f"COPY {table} (id, text) FROM STDIN", buf)
    load_s = time.monotonic() - began
    began = time.monotonic()
    cur.execute(
        f"ALTER TABLE {table} ADD COLUMN tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED"
    )
    cur.execute(f"CREATE INDEX ON {table} USING gin (tsv)")
    cur.execute(f"ANALYZE {table}")
    build_s = time.monotonic() - began
    sql = (
        f"SELECT id FROM {table}, to_tsquery('english', %s) q WHERE tsv @@ q ORDER BY ts_rank(tsv, q) DESC, id LIMIT 10"
    )

    def run(q: str) -> list[tuple[str, int]]:
        cur.execute(sql, [" | ".join(q.split())])
        return [(keys[i // PER_EPISODE], i % PER_EPISODE) for (i,) in cur.fetchall()]

    try:
        lat, res = timed(run, queries)
    finally:
        cur.execute(f"DROP TABLE IF EXISTS {table}")
        con.close()
    return {"load_s": round(load_s, 1), "build_s": round(build_s, 1), "latency": summary(lat), "ids": res}


# --- recall and overlap ------------------------------------------------------------------------------


def exact_top10(all_vectors: np.ndarray, queries: np.ndarray, keys: list[str]) -> list[list[tuple[str, int]]]:
    scores = np.zeros((queries.shape[0], all_vectors.shape[0]), dtype=np.float32)
    for lo in range(0, all_vectors.shape[0], 200_000):
        scores[:, lo : lo + 200_000] = queries @ all_vectors[lo : lo + 200_000].T
    part = np.argpartition(-scores, 10, axis=1)[:, :10]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1)
    top = np.take_along_axis(part, order, axis=1)
    return [[(keys[r // PER_EPISODE], int(r % PER_EPISODE)) for r in row] for row in top]


def overlap(a: list[list[Any]], b: list[list[Any]]) -> float:
    """Mean share of b's top 10 found in a's top 10 (queries where b found nothing are skipped)."""
    pairs = [(set(map(tuple, x)), set(map(tuple, y))) for x, y in zip(a, b, strict=True) if y]
    return round(statistics.fmean(len(x & y) / len(y) for x, y in pairs), 3) if pairs else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--segments", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=20_000, help="phrases embedded with the real model")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ann-min-rows", type=int, default=None, help="override VectorIndexConfig.min_rows")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--reuse", action="store_true", help="query the corpus and index a --keep run left in --workdir (no build)"
    )
    parser.add_argument("--postgres", default="host=127.0.0.1 port=5432 dbname=test user=postgres")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write the report as JSON")
    parser.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated subset of {','.join(PHASES)}")
    parser.add_argument(
        "--grid", default=None, help="nprobes/refine_factor pairs (ef/refine_factor for a graph index), e.g. 80/5,120/5"
    )
    parser.add_argument(
        "--index-type", default=None, choices=["auto", "IVF_SQ", "IVF_HNSW_SQ", "IVF_PQ"],
        help="vector index to build (default: the pipeline's, VectorIndexConfig.index_type)",
    )  # fmt: skip
    parser.add_argument("--hnsw-m", type=int, default=None, help="VectorIndexConfig.hnsw_m")
    parser.add_argument("--hnsw-ef-construction", type=int, default=None, help="VectorIndexConfig.hnsw_ef_construction")
    parser.add_argument("--baseline-ref", default="main", help="git ref whose search path the baseline phase times")
    args = parser.parse_args()
    phases = set(args.phases.split(","))
    if phases - set(PHASES):
        parser.error(f"unknown phases {sorted(phases - set(PHASES))}; choose from {', '.join(PHASES)}")

    from cast_pipeline.search import VectorIndexConfig, load_embedder, rebuild_index

    n = args.segments - args.segments % PER_EPISODE
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix=f"cast-bench-{n}-"))
    paths = DataPaths(workdir / "data")
    report: dict[str, Any] = {
        "segments": n, "sample_embedded": min(args.sample, n), "cpus": os.cpu_count(), "load_avg": os.getloadavg(),
    }  # fmt: skip
    try:
        config = VectorIndexConfig()
        if args.ann_min_rows is not None:
            config = replace(config, min_rows=args.ann_min_rows)
        if args.index_type is not None:
            config = replace(config, index_type=args.index_type)
        if args.hnsw_m is not None:
            config = replace(config, hnsw_m=args.hnsw_m)
        if args.hnsw_ef_construction is not None:
            config = replace(config, hnsw_ef_construction=args.hnsw_ef_construction)
        default_grid = HNSW_GRID if config.index_type_for(n) == "IVF_HNSW_SQ" else GRID
        grid_configs = [tuple(map(int, g.split("/"))) for g in args.grid.split(",")] if args.grid else default_grid
        if args.reuse:  # same seed, same phrases and queries; the vectors were not kept
            if not (paths.search_dir / "manifest.json").is_file():
                parser.error(f"--reuse: no index in {paths.search_dir}; run once with --workdir ... --keep")
            if "semantic" in phases:
                parser.error("--reuse cannot measure recall (the corpus vectors are not kept): leave out semantic")
            log(f"reusing the corpus and index in {workdir}")
            texts = make_texts(n, np.random.default_rng(42), vocabulary())
            keys = [
                episode_key(feed_key(f"https://feed{e % FEEDS}.example/rss"), f"ep-{e}")
                for e in range(n // PER_EPISODE)
            ]
            all_vectors = np.empty((0, 0))
        else:
            texts, keys, all_vectors = build_corpus(paths, n, args.sample, seed=42)
        queries = make_queries(texts, args.queries, np.random.default_rng(7))
        query_vectors = load_embedder().encode(queries) if "semantic" in phases else np.empty((0, 0))
        if not args.reuse:
            log("building the index (rebuild_index: rows, full text, vector index, DuckDB snapshot)")
            began = time.monotonic()
            update = rebuild_index(paths, vector_config=config)
            timings = {"seconds": round(time.monotonic() - began, 1), **update.timings, "ann": update.vector_index}
            report["index"] = timings
            log(f"  {report['index']}")

        lance_kw: dict[str, Any] = {"ids": []}
        duck: dict[str, Any] = {"ids": []}
        if "keyword" in phases:
            log("keyword (LanceDB full text)")
            lance_kw = run_phase(phase_lancedb_keyword, str(paths.root), queries)
            report["keyword_lancedb"] = {k: v for k, v in lance_kw.items() if k != "ids"}
        if "duckdb" in phases:
            log("keyword (DuckDB fts BM25)")
            duck = run_phase(phase_duckdb, str(paths.root), queries)
            report["keyword_duckdb"] = {k: v for k, v in duck.items() if k != "ids"}
            report["keyword_duckdb"]["top10_overlap_with_lancedb"] = overlap(lance_kw["ids"], duck["ids"])
        if "semantic" in phases:
            log("semantic (vector search grid)")
            semantic = run_phase(phase_semantic, str(paths.root), query_vectors, queries, grid_configs)
            log("exact brute-force top 10")
            exact = exact_top10(all_vectors, query_vectors, keys)
            report["semantic"] = {
                "index": f"{config.index_type_for(n)}, defaults nprobes {config.nprobes}, ef {config.ef}, "
                f"refine {config.refine_factor}",
                "encode_query": semantic["encode_latency"],
                "encode_query_onnx": semantic["onnx_encode_latency"],
                "rss_mib": semantic["rss_mib"],
                "grid": {
                    cfg: {**r["latency"], "recall_at_10": overlap(r["ids"], exact)}
                    for cfg, r in semantic["grid"].items()
                },
            }
            log(f"  {report['semantic']}")
        del all_vectors
        if "hybrid" in phases:
            log("hybrid (search API)")
            report["hybrid"] = run_phase(phase_hybrid, str(paths.root), queries)
            log(f"  {report['hybrid']}")
        if "service" in phases:
            log("service (cast-pipeline serve over HTTP, 1 and 8 clients)")
            report["service"] = run_phase(phase_service, str(paths.root), queries)
            log(f"  {report['service']}")
        if "baseline" in phases:
            log(f"baseline: today's search path vs {args.baseline_ref}'s, interleaved in one process")
            report["baseline"] = run_phase(phase_baseline, str(paths.root), queries, args.baseline_ref)
            log(f"  {report['baseline']}")
        if not args.no_postgres and "postgres" in phases:
            log("PostgreSQL tsvector")
            pg = postgres(args.postgres, texts, keys, queries)
            report["postgres"] = {k: v for k, v in pg.items() if k != "ids"}
            report["postgres"]["top10_overlap_with_lancedb"] = overlap(lance_kw["ids"], pg["ids"])
            report["postgres"]["top10_overlap_with_duckdb"] = overlap(duck["ids"], pg["ids"])
            report["postgres"]["p50_ratio_to_lancedb"] = round(
                pg["latency"]["p50_ms"] / lance_kw["latency"]["p50_ms"], 1
            )
        report["disk_mib"] = {
            name: round(sum(f.stat().st_size for f in (paths.root / name).rglob("*") if f.is_file()) / 2**20)
            for name in ("episodes", "search")
        }
    finally:
        if not args.keep and not args.reuse:
            shutil.rmtree(workdir, ignore_errors=True)
    report["load_avg_end"] = os.getloadavg()
    report["parent_peak_rss_mib"] = peak_rss_mib()
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
