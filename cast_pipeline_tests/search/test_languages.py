"""Feed language tags -> the full-text columns (and stemmers) that handle them."""

from __future__ import annotations

import pytest

from cast_pipeline.search.languages import LANGUAGES, SIMPLE, fts_column, fts_columns, language_code


@pytest.mark.parametrize(
    ("tag", "code"),
    [
        ("en", "en"),
        ("en-us", "en"),
        ("de-DE", "de"),
        ("DE_at", "de"),
        ("fr", "fr"),
        ("ja", SIMPLE),
        ("", SIMPLE),
        (None, SIMPLE),
    ],
)
def test_feed_language_tags_map_to_a_tokenizer(tag: str | None, code: str) -> None:
    assert language_code(tag) == code


def test_every_language_has_its_own_column_and_simple_does_not_stem() -> None:
    columns = fts_columns("text")
    assert columns["de"] == "text_de"
    assert len(set(columns.values())) == len(LANGUAGES)
    assert not LANGUAGES[SIMPLE].stem
    assert LANGUAGES["de"].lancedb == "German"


def test_unknown_language_code_is_rejected() -> None:
    with pytest.raises(ValueError, match="unsupported language code"):
        fts_column("text", "xx")
