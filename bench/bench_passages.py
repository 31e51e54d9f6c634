"""Before/after of passage splitting on held-out real transcripts (run by hand).

Builds the held-out index of cast_pipeline_tests/search/heldout.py twice in temp directories: once with
one row per whole phrase (the behaviour before passages: a long paragraph is one pooled vector and one
full-text document) and once with passages, then prints, for each question about a sentence deep inside
a long paragraph, the rank of the expected hit among the segment results (``-`` = not in the top 10).

    PYTHONPATH=$PWD CAST_SHARED_DIR=/work/shared .venv/bin/python bench/bench_passages.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from unittest import mock

from cast_pipeline.paths import DataPaths
from cast_pipeline.search import load_embedder, search
from cast_pipeline.search.embeddings import BUNDLED_MODEL
from cast_pipeline.search.passages import split_passages
from cast_pipeline_tests.search.heldout import QUESTIONS, Question, index_heldout

SHARED = Path(os.environ.get("CAST_SHARED_DIR", "/work/shared")) / "data"


def rank(paths: DataPaths, key: str, question: Question, mode: str) -> int | None:
    hits = search(question.query, mode=mode, paths=paths, limit=10)  # type: ignore[arg-type]
    hits = hits[hits.result_type == "segment"].reset_index(drop=True)
    for i, hit in hits.iterrows():
        if hit.episode_key == key and hit.segment_index == question.segment_index and question.anchor in hit.text:
            return int(i) + 1  # type: ignore[call-overload]
    return None


def main() -> int:
    embedder = load_embedder(BUNDLED_MODEL)
    whole = lambda segments: split_passages(segments, max_chars=10**9, target_chars=10**9)  # noqa: E731
    table: dict[str, dict[str, list[int | None]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, patch in (("phrases (before)", whole), ("passages (after)", None)):
            paths = DataPaths(Path(tmp) / label.split()[0])
            if patch is None:
                key = index_heldout(paths, SHARED, embedder)
            else:
                with mock.patch("cast_pipeline.search.embeddings.split_passages", patch):
                    key = index_heldout(paths, SHARED, embedder)
            table[label] = {m: [rank(paths, key, q, m) for q in QUESTIONS] for m in ("semantic", "hybrid")}
    show = lambda r: "-" if r is None else str(r)  # noqa: E731
    print(f"{'question':<80} " + " ".join(f"{lab[:8]}/{m[:3]}" for lab in table for m in ("semantic", "hybrid")))
    for i, q in enumerate(QUESTIONS):
        cells = [show(table[lab][m][i]).rjust(12) for lab in table for m in ("semantic", "hybrid")]
        print(f"{q.query[:80]:<80} " + " ".join(cells))
    for lab in table:
        for m in ("semantic", "hybrid"):
            top3 = sum(1 for r in table[lab][m] if r is not None and r <= 3)
            print(f"{lab} {m}: {top3}/{len(QUESTIONS)} in the top 3")
    return 0


if __name__ == "__main__":
    sys.exit(main())
