"""Long phrases are embedded whole: chunked at the model's window, pooled into one vector per phrase."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from cast_pipeline.search import Embedder
from cast_pipeline.search.chunking import Chunk, chunk_texts, pool, split_text, token_limit
from cast_pipeline.transcripts.merge import merge_phrases
from cast_pipeline.transcripts.parsing import parse

WORDS = re.compile(r"\w+")


def _offsets(text: str) -> list[tuple[int, int]]:
    """One 'word piece' per word or punctuation mark: enough to test where chunks are cut."""
    return [m.span() for m in re.finditer(r"\w+|[^\w\s]", text)]


def test_a_text_that_fits_is_one_unchanged_chunk() -> None:
    text = "  Short phrase, kept as is. "
    assert split_text(text, _offsets(text), 50) == [Chunk(text, 7)]


def test_chunks_respect_the_limit_cover_every_word_and_end_at_sentence_ends() -> None:
    sentences = [f"Sentence number {i} talks about topic {i} at some length." for i in range(40)]
    text = " ".join(sentences)
    offsets = _offsets(text)
    chunks = split_text(text, offsets, 30)
    assert len(chunks) > 1
    assert all(c.tokens <= 30 for c in chunks)
    assert sum(c.tokens for c in chunks) == len(offsets)
    assert WORDS.findall(" ".join(c.text for c in chunks)) == WORDS.findall(text)
    assert all(c.text.endswith(".") for c in chunks)  # a sentence end in each window's second half


def test_without_sentence_ends_chunks_end_between_words_and_only_a_huge_word_is_cut() -> None:
    text = " ".join(f"word{i}" for i in range(100))
    chunks = split_text(text, _offsets(text), 16)
    assert [c.text.split() for c in chunks] == [text.split()[i : i + 16] for i in range(0, 100, 16)]
    blob = "x" * 50
    pieces = [(i, i + 1) for i in range(50)]  # 50 pieces, no space anywhere
    assert [c.tokens for c in split_text(blob, pieces, 20)] == [20, 20, 10]


def test_pool_weights_by_tokens_and_keeps_unit_length() -> None:
    a, b, c = np.eye(3, dtype=np.float32)
    plan = [[Chunk("one", 5)], [Chunk("x", 3), Chunk("y", 1)]]
    out = pool(np.stack([c, a, b]), plan)
    np.testing.assert_array_equal(out[0], c)  # a single chunk passes through untouched
    np.testing.assert_allclose(out[1], np.array([3, 1, 0]) / np.sqrt(10), atol=1e-6)
    with pytest.raises(ValueError, match="chunk vectors"):
        pool(np.stack([a, b]), plan)


def test_short_texts_are_encoded_exactly_as_the_model_does(embedder: Embedder) -> None:
    texts = ["Welcome to the show.", "Today we talk about bread baking."]
    raw = embedder._model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_array_equal(embedder.encode(texts), raw)


def test_the_end_of_a_long_html_paragraph_is_found_by_meaning(embedder: Embedder, shared_data: Path) -> None:
    """The namespace's HTML example: phrase 6 is ~700 word pieces; show-notes formatting comes after 254."""
    source = shared_data / "transcripts" / "podcast-namespace" / "example.html"
    phrases = [s.text for s in merge_phrases(parse(source.read_bytes(), filename=source.name))]
    limit = token_limit(embedder._model)
    assert limit == 254  # all-MiniLM-L6-v2 reads 256 pieces including [CLS] and [SEP]
    plan = chunk_texts(phrases, embedder._model.tokenizer, limit)
    assert len(plan[6]) >= 3 and all(c.tokens <= limit for chunks in plan for c in chunks)

    query = embedder.encode(["formatting show notes with bullet points and links"])[0]
    pooled = embedder.encode(phrases) @ query
    truncated = embedder._model.encode(phrases, normalize_embeddings=True, convert_to_numpy=True) @ query
    assert int(np.argmax(pooled)) == 6 and pooled[6] > 0.3  # above the search's similarity floor
    assert truncated[6] < 0.15  # what the model alone makes of the same phrase: the end is cut off
    np.testing.assert_allclose(np.linalg.norm(embedder.encode(phrases), axis=1), 1.0, atol=1e-5)
