"""Which tokenizer (stemmer + stop words) handles which feed language.

Why per-language columns: a stemmer only helps in its own language (the English stemmer leaves German
"Häuser" alone, the German one reduces it and "Haus" to the same stem), and LanceDB configures stemming
per full-text index, one index per column. So the index copies every segment's text into the column of
its episode's language (``text_de`` for a German feed) and gives each column an index with that
language's stemmer and stop words. A query runs against every language column that has an index; each
index tokenizes the query its own way. Episodes without a (supported) language go to ``simple``:
lower-cased and accent-folded, no stemming, no stop words, so nothing is stemmed wrongly.

To support another language, add it to ``LANGUAGES`` (LanceDB and DuckDB both take Snowball names).
"""

from __future__ import annotations

from dataclasses import dataclass

SIMPLE = "simple"


@dataclass(frozen=True)
class Language:
    code: str  # ISO 639-1 code as used in feeds ("de" from "de-DE"), or "simple"
    lancedb: str  # LanceDB FTS ``language`` (Snowball stemmer + stop words)
    duckdb: str  # DuckDB fts ``stemmer`` / ``stopwords`` name
    postgres: str  # PostgreSQL text search configuration (benchmark comparison)
    stem: bool = True


LANGUAGES: dict[str, Language] = {
    lang.code: lang
    for lang in (
        Language("en", "English", "english", "english"),
        Language("de", "German", "german", "german"),
        Language("fr", "French", "french", "french"),
        Language("es", "Spanish", "spanish", "spanish"),
        Language("it", "Italian", "italian", "italian"),
        Language("nl", "Dutch", "dutch", "dutch"),
        Language("pt", "Portuguese", "portuguese", "portuguese"),
        Language(SIMPLE, "English", "none", "simple", stem=False),
    )
}


def language_code(feed_language: str | None) -> str:
    """The tokenizer code for a feed's language tag: ``"de-DE"`` -> ``"de"``, unknown or missing -> ``simple``."""
    if not feed_language:
        return SIMPLE
    primary = feed_language.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in LANGUAGES and primary != SIMPLE else SIMPLE


def fts_column(field: str, code: str) -> str:
    """The per-language copy of ``field`` that carries the full-text index, e.g. ``text_de``."""
    if code not in LANGUAGES:
        raise ValueError(f"unsupported language code {code!r}; supported: {', '.join(LANGUAGES)}")
    return f"{field}_{code}"


def fts_columns(field: str) -> dict[str, str]:
    """Every language column of ``field``: ``{"en": "text_en", ..., "simple": "text_simple"}``."""
    return {code: fts_column(field, code) for code in LANGUAGES}
