"""Episodes whose publisher added (or changed) ``<podcast:transcript>`` links after they were processed.

Why: a publisher often adds its transcript a day or a week after the episode, when the episode may
already have been transcribed by a speech model. Comparing the refreshed catalog with the episode's
snapshot (``episode.json``, what the pipeline last worked from) finds exactly those episodes, so only
they are run again: their ``transcript`` then switches to the publisher's (publisher > Pocket Casts >
speech, cast_pipeline.transcripts.store.choose_source) and the speech result stays on disk.
Only feeds whose content changed need this (a 304 cannot carry a new tag).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from cast_pipeline.feeds.model import Episode
from cast_pipeline.feeds.snapshot import EPISODE_FILE
from cast_pipeline.paths import DataPaths


def _links(transcripts: Iterable[object]) -> set[str]:
    out = set()
    for t in transcripts:
        url = t.get("url") if isinstance(t, dict) else getattr(t, "url", None)
        if url:
            out.add(str(url))
    return out


def late_transcript_keys(paths: DataPaths, episodes: Iterable[Episode]) -> list[str]:
    """Keys of processed episodes whose catalog entry now lists transcript links their snapshot did not."""
    late = []
    for ep in episodes:
        if not ep.transcripts:
            continue
        path = paths.episode_file(ep.key, EPISODE_FILE)
        try:
            snapshot = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # never processed: a new episode, not a late transcript
        if _links(ep.transcripts) - _links(snapshot.get("transcripts") or []):
            late.append(ep.key)
    return late


def links_digest(episodes: Iterable[Episode]) -> str:
    """A short digest of the episodes' transcript links (run keys that change with the links)."""
    text = "\n".join(sorted(t.url for ep in episodes for t in ep.transcripts))
    return hashlib.sha1(text.encode()).hexdigest()[:10]
