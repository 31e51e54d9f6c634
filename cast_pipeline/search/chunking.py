"""Texts longer than the model's window: split into model-sized chunks, embedded, pooled into one vector.

Why: a sentence-transformer reads at most ``max_seq_length`` word pieces (256 for all-MiniLM-L6-v2) and
silently drops the rest. Long phrases are first split into passages of 1-3 sentences
(:mod:`cast_pipeline.search.passages`, one index row each, so a hit points at the sentence); this is the
safety net for a passage that is still too long (one very long sentence), whose end would otherwise
never be found by meaning. Pooling keeps one vector per passage, the unit the index addresses.

Chunks end at a sentence end where one falls in the second half of the window, else at a word boundary,
and cut inside a word only when a single word is longer than the window. The phrase vector is the mean
of its chunks' unit vectors weighted by their token counts, renormalised to unit length (so cosine
similarity stays a dot product). A text that fits the model is encoded exactly as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

_SENTENCE_END = frozenset(".!?…")
_NO_LIMIT = 100_000  # tokenizers without a real limit report huge model_max_length values


@dataclass(frozen=True)
class Chunk:
    text: str
    tokens: int


def token_limit(model: Any) -> int | None:
    """Word pieces per chunk for a sentence-transformers model (its window minus [CLS]/[SEP]), or None."""
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is None or not getattr(tokenizer, "is_fast", False):
        return None  # without offsets we cannot cut at word boundaries; leave truncation to the model
    limit = getattr(model, "max_seq_length", None) or getattr(tokenizer, "model_max_length", None)
    if not limit or limit >= _NO_LIMIT:
        return None
    return max(8, int(limit) - tokenizer.num_special_tokens_to_add(pair=False))


def split_text(text: str, offsets: Sequence[tuple[int, int]], limit: int) -> list[Chunk]:
    """``text`` (tokenised as ``offsets``, one ``(start, end)`` per word piece) in chunks of <= ``limit`` pieces."""
    n = len(offsets)
    if n <= limit:
        return [Chunk(text, n)]
    chunks: list[Chunk] = []
    start = 0
    while start < n:
        cut = min(start + limit, n)
        if cut < n:
            cut = _best_cut(text, offsets, start, cut, limit)
        piece = text[offsets[start][0] : offsets[cut - 1][1]].strip()
        if piece:
            chunks.append(Chunk(piece, cut - start))
        start = cut
    return chunks


def _best_cut(text: str, offsets: Sequence[tuple[int, int]], start: int, end: int, limit: int) -> int:
    """Token index to end the chunk before: last sentence start in the window's second half, else last
    word start, else ``end`` (one word longer than the window)."""
    word_start = None
    for j in range(end, start, -1):
        gap = offsets[j][0] > offsets[j - 1][1]
        if not gap:
            continue
        if word_start is None:
            word_start = j
        if j - start < limit // 2:
            break
        if text[offsets[j - 1][1] - 1] in _SENTENCE_END:
            return j
    return word_start or end


def chunk_texts(texts: Sequence[str], tokenizer: Any, limit: int) -> list[list[Chunk]]:
    """Each text's chunks (a text that fits is one chunk holding the text unchanged)."""
    encoded = tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    return [split_text(text, offsets, limit) for text, offsets in zip(texts, encoded["offset_mapping"], strict=True)]


def pool(vectors: np.ndarray, plan: Sequence[Sequence[Chunk]]) -> np.ndarray:
    """One unit vector per text from the chunk vectors (rows in ``plan`` order), token-weighted."""
    out = np.empty((len(plan), vectors.shape[1]), dtype=np.float32)
    row = 0
    for i, chunks in enumerate(plan):
        group = vectors[row : row + len(chunks)]
        row += len(chunks)
        if len(chunks) == 1:
            out[i] = group[0]
            continue
        weights = np.array([c.tokens for c in chunks], dtype=np.float32)
        mean = (group * weights[:, None]).sum(axis=0)
        norm = float(np.linalg.norm(mean))
        out[i] = mean / norm if norm > 1e-6 else group[0]
    if row != len(vectors):
        raise ValueError(f"{len(vectors)} chunk vectors for a plan of {row} chunks")
    return out
