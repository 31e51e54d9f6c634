"""Episode title and description search in memory (:mod:`cast_pipeline.search.episode_text`) at archive scale.

Run by hand (a minute at 100,000 episodes)::

    .venv/bin/python bench/bench_episode_text.py                        # 100,000 episodes, against main
    .venv/bin/python bench/bench_episode_text.py --episodes 20000 --baseline-ref HEAD~1

What it does, and why this way:
- Episodes: titles "Episode <n mod 7>: <words>" and descriptions of Zipf-distributed words (the generator of
  bench_search.py), in English, German, French, Spanish and without a language, 50 feeds; one in nine has
  no description. Real archives number titles like this, so a common word matches most of them.
- Queries: 1-3 words drawn from the same texts (stop words included: they are query words where a feed
  has no language), plus phrases and a word in every title.
- Each query runs through today's module and the one of ``--baseline-ref`` in turn, with no filter, a
  feed filter (keeps 1 in 50), a date filter and half the episodes hidden, for titles and descriptions,
  ``k`` 1, 3 and 10: the report says how many of these searches gave other rows than the baseline (it
  should be 0) and the latency of each, p50/p99/max, as a ratio in the same process.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_search import make_texts, vocabulary

from cast_pipeline.search import episode_text
from cast_pipeline.search.filters import SearchFilter
from cast_pipeline.search.text import parse_query

LANGUAGES = ["en", "de", "fr", None, "en", "es"]


def baseline_module(ref: str) -> Any:
    """``cast_pipeline.search.episode_text`` as of git ``ref``, importable next to today's."""
    repo = Path(__file__).resolve().parents[1]
    shown = subprocess.run(
        ["git", "-C", str(repo), "show", f"{ref}:cast_pipeline/search/episode_text.py"], capture_output=True, text=True
    )
    if shown.returncode != 0:
        raise SystemExit(f"--baseline-ref {ref!r}: no episode_text.py there ({shown.stderr.strip()})")
    source = shown.stdout
    path = Path(tempfile.mkdtemp(prefix="cast-bench-episode-text-")) / "baseline_episode_text.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("baseline_episode_text", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def episodes(n: int) -> list[dict[str, Any]]:
    texts = make_texts(2 * n, np.random.default_rng(42), vocabulary())
    return [
        {
            "episode_key": f"feed{i % 50}--ep-{i}", "feed_key": f"feed{i % 50}",
            "title": f"Episode {i % 7}: {texts[2 * i][:60]}", "description": texts[2 * i + 1] if i % 9 else "",
            "language": LANGUAGES[i % len(LANGUAGES)], "published": datetime(2020, 1, 1 + i % 28, tzinfo=UTC),
        }
        for i in range(n)
    ]  # fmt: skip


def queries(rows: list[dict[str, Any]], n: int) -> list[str]:
    rng = random.Random(3)
    words = [w.strip(".:").lower() for r in rows[:3000] for w in f"{r['title']} {r['description']}".split()]
    words = [w for w in words if w.isalpha()]
    made = [" ".join(rng.sample(words, rng.randint(1, 3))) for _ in range(n)]
    return [*made, "episode", "episode 3", '"the history"', 'episode "of the"', "zzzunknown"]


def summary(seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000
    return {"p50_ms": round(float(np.median(ms)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "max_ms": round(float(ms.max()), 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--baseline-ref", default="main")
    args = parser.parse_args()

    rows = episodes(args.episodes)
    baseline = baseline_module(args.baseline_ref)
    began = time.perf_counter()
    ours = episode_text.EpisodeText(rows)
    build = time.perf_counter() - began
    began = time.perf_counter()
    theirs = baseline.EpisodeText(rows)
    build_baseline = time.perf_counter() - began

    filters = [
        None,
        SearchFilter(feeds=frozenset({"feed3"})).accepts,
        SearchFilter(since=datetime(2020, 1, 20, tzinfo=UTC)).accepts,
        SearchFilter(hidden=frozenset(r["episode_key"] for r in rows[: len(rows) // 2])).accepts,
    ]
    times: dict[str, list[float]] = {"today": [], "baseline": []}
    differ = searches = 0
    for q in queries(rows, args.queries):
        parsed = parse_query(q)
        for accept in filters:
            for field in ("title", "description"):
                for k in (1, 3, 10):
                    got = {}
                    for name, index in (("today", ours), ("baseline", theirs))[:: 1 if searches % 2 else -1]:
                        began = time.perf_counter()
                        got[name] = index.search(field, parsed, k, accept)
                        times[name].append(time.perf_counter() - began)
                    searches += 1
                    rows_of = {name: [(h["episode_key"], h[field], round(h["_score"], 9)) for h in hits]
                               for name, hits in got.items()}  # fmt: skip
                    differ += rows_of["today"] != rows_of["baseline"]
    today, base = summary(times["today"]), summary(times["baseline"])
    report = {
        "episodes": len(rows), "searches": searches, "differ_from_baseline": differ,
        "build_seconds": round(build, 2), "baseline_build_seconds": round(build_baseline, 2),
        "today": today, "baseline": base | {"ref": args.baseline_ref},
        "p50_ratio": round(today["p50_ms"] / base["p50_ms"], 3),
        "p99_ratio": round(today["p99_ms"] / base["p99_ms"], 3),
    }  # fmt: skip
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
