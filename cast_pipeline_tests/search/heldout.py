"""Held-out real transcripts indexed for real, and questions about sentences deep inside long paragraphs.

The target is the Podcasting 2.0 namespace's HTML example: ten speaker turns of 770-3,300 characters
(one to three minutes each). The distractors are two more real transcripts of the shared data, one of
them about starting a podcast, so a vague question has plenty of plausible wrong answers. Each question
paraphrases one sentence that sits in the middle or end of its paragraph; the expected hit is the phrase
(segment index) plus words of that sentence (``anchor``), so with passages the hit must be the passage
holding the sentence, not just the paragraph. Used by test_heldout_passages.py and bench/bench_passages.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cast_pipeline.feeds.catalog import write_feed_catalog
from cast_pipeline.feeds.model import Episode, Feed
from cast_pipeline.feeds.snapshot import save_episode
from cast_pipeline.keys import episode_key, feed_key
from cast_pipeline.paths import DataPaths, write_text_atomic
from cast_pipeline.search import Embedder, embed_episode, update_index, write_episode_embeddings
from cast_pipeline.segments import segments_to_json
from cast_pipeline.transcripts.merge import merge_phrases
from cast_pipeline.transcripts.parsing import parse
from cast_pipeline.transcripts.store import TRANSCRIPT_JSON

FEED_URL = "https://heldout.example/rss"
TARGET = "podcast-namespace/example.html"
SOURCES = (TARGET, "transcriptator/how_to_start_a_podcast.json", "transcriptator/kde_express-16_kde_en_telegram.vtt")


@dataclass(frozen=True)
class Question:
    query: str
    segment_index: int  # the long paragraph (phrase) of the HTML example
    anchor: str  # words of the sentence the question is about


QUESTIONS = (
    Question("reuse the invitation you mailed to your last interviewee", 6, "send them the one that you sent"),
    Question("can I put bullet lists and links in the episode description", 6, "bullet points in bed links"),
    Question("will the audience lose weight or become happier by listening", 2, "Are they going to lose weight"),
    Question("record a whole month of shows in a single week", 9, "a month of content in one week"),
    Question("a picture that makes people stop scrolling social media", 8, "post a picture that causes them to stop"),
    Question("open the previous session file in your audio editor instead of starting fresh", 6,
             "opening up a previous episode, saving it as a duplicate"),
    Question("mention your degree, job or clients so people believe your advice", 2, "lend credence to your advice"),
    Question("listeners trust a guest because they already trust the host of the show", 4,
             "they will immediately trust you"),
    Question("a catchy hook such as a surprising statistic or a great quote", 8, "It could be a crazy stat"),
    Question("inexpensive microphones can still sound good", 1, "mic's that costs less than"),
    Question("people read the notes to find the link to a product you talked about", 6, "they want to find the link"),
)  # fmt: skip


def episode_of(source: str) -> Episode:
    fk = feed_key(FEED_URL)
    return Episode(
        key=episode_key(fk, source), feed_key=fk, feed_url=FEED_URL, feed_title="Held-out transcripts",
        guid=source, title=Path(source).stem.replace("_", " "), published=datetime(2023, 3, 7, tzinfo=UTC),
        enclosure_url=f"https://heldout.example/{Path(source).stem}.mp3", language="en",
    )  # fmt: skip


def index_heldout(paths: DataPaths, shared: Path, embedder: Embedder) -> str:
    """Parse, merge, embed and index the held-out transcripts (with a feed catalog and transcript.json, so
    the reader can show them); returns the HTML example's episode key."""
    episodes = []
    for source in SOURCES:
        episode = episode_of(source)
        file = shared / "transcripts" / source
        phrases = merge_phrases(parse(file.read_bytes(), filename=file.name))
        save_episode(paths, episode)
        meta = {"episode_key": episode.key, "title": episode.title, "feed_title": episode.feed_title,
                "enclosure_url": episode.enclosure_url, "source": "publisher"}  # fmt: skip
        write_text_atomic(paths.episode_file(episode.key, TRANSCRIPT_JSON), segments_to_json(phrases, **meta))
        write_episode_embeddings(paths, episode.key, embed_episode(episode.key, phrases, embedder))
        episodes.append(episode)
    feed = Feed(key=feed_key(FEED_URL), url=FEED_URL, title="Held-out transcripts", language="en")
    write_feed_catalog(paths, feed, episodes)
    update_index(paths, [e.key for e in episodes])
    return episode_of(TARGET).key
