"""Questions about one sentence deep inside a long real paragraph find the passage holding that sentence.

Before passages (one row per whole paragraph, see bench/bench_passages.py) 5 of these 11 questions
missed the top 3 by meaning; the hit now also starts at the passage, not minutes earlier at the
paragraph's start.
"""

from __future__ import annotations

import html
import re

import pytest
from starlette.testclient import TestClient

from cast_pipeline.paths import DataPaths
from cast_pipeline.search import Embedder, search
from cast_pipeline.serve.app import build_app
from cast_pipeline.serve.library import Library
from cast_pipeline_tests.conftest import require_shared
from cast_pipeline_tests.search.heldout import QUESTIONS, Question, index_heldout

# The three passages of the same paragraph that share words with the question take its episode's three
# result slots (MAX_PER_EPISODE) in hybrid mode; by meaning alone the right passage comes first.
CAPPED_IN_HYBRID = {"inexpensive microphones can still sound good"}


@pytest.fixture(scope="module")
def heldout(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> tuple[DataPaths, str]:
    paths = DataPaths(tmp_path_factory.mktemp("heldout") / "data")
    return paths, index_heldout(paths, require_shared(), embedder)


def _rank(heldout: tuple[DataPaths, str], question: Question, mode: str) -> int | None:
    paths, key = heldout
    hits = search(question.query, mode=mode, paths=paths, limit=10)  # type: ignore[arg-type]
    hits = hits[hits.result_type == "segment"].reset_index(drop=True)
    for i, hit in hits.iterrows():
        if (hit.episode_key, hit.segment_index) == (key, question.segment_index) and question.anchor in hit.text:
            return int(i) + 1  # type: ignore[call-overload]
    return None


@pytest.mark.parametrize("question", QUESTIONS, ids=[q.query for q in QUESTIONS])
def test_the_passage_with_the_sentence_is_in_the_top_three_by_meaning(heldout, question: Question) -> None:
    rank = _rank(heldout, question, "semantic")
    assert rank is not None and rank <= 3, f"{question.query!r}: rank {rank}"


@pytest.mark.parametrize(
    "question",
    [
        pytest.param(q, marks=pytest.mark.xfail(strict=True, reason="per-episode cap")) if q.query in CAPPED_IN_HYBRID
        else q
        for q in QUESTIONS
    ],
    ids=[q.query for q in QUESTIONS],
)  # fmt: skip
def test_the_passage_with_the_sentence_is_in_the_top_three_in_hybrid_mode(heldout, question: Question) -> None:
    rank = _rank(heldout, question, "hybrid")
    assert rank is not None and rank <= 3, f"{question.query!r}: rank {rank}"


def test_a_hit_inside_a_long_paragraph_starts_at_its_passage(heldout: tuple[DataPaths, str]) -> None:
    paths, key = heldout
    question = QUESTIONS[0]  # about a sentence in the middle of a 3,300-character, three-minute paragraph
    hit = search(question.query, mode="semantic", paths=paths, limit=1).iloc[0]
    assert (hit.episode_key, hit.segment_index) == (key, question.segment_index) and hit.passage_index > 0
    assert question.anchor in hit.text and len(hit.text) <= 300
    assert 376.0 < hit.start < hit.end < 562.0  # inside the paragraph's span, well after its start
    assert hit.play_url.endswith(f"#t={int(hit.start)}")


def test_the_reader_opens_the_transcript_at_the_passage(heldout: tuple[DataPaths, str]) -> None:
    paths, key = heldout
    question = QUESTIONS[0]
    hit = search(question.query, mode="semantic", paths=paths, limit=1).iloc[0]
    client = TestClient(build_app(Library(paths), warm=False))
    results = client.get("/search", params={"q": question.query, "mode": "semantic"})
    link = html.unescape(re.search(r'class="hit-link" href="([^"]+)"', results.text).group(1))  # type: ignore[union-attr]
    assert link.startswith(f"/episodes/{key}?t={hit.start}&") and link.endswith(f"#seg-{question.segment_index}")
    page = client.get(link.split("#")[0]).text
    assert f'<div class="seg hit" id="seg-{question.segment_index}">' in page  # the paragraph holding the passage
    assert f"seek({hit.start}, false)" in page  # the player starts at the passage, not at the paragraph
