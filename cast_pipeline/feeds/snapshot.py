"""An episode's metadata snapshot (``episode.json``), the input every per-episode asset reads.

Why a snapshot instead of reading the feed catalog each time: the catalog is rewritten whenever the
feed changes, while a transcript must stay tied to the item as it was when it was processed.
"""

from __future__ import annotations

import json

from cast_pipeline.feeds.model import Episode
from cast_pipeline.paths import DataPaths, write_text_atomic

EPISODE_FILE = "episode.json"


def save_episode(paths: DataPaths, episode: Episode) -> None:
    text = json.dumps(episode.to_dict(), ensure_ascii=False, indent=1)
    write_text_atomic(paths.episode_file(episode.key, EPISODE_FILE), text)


def load_episode(paths: DataPaths, episode_key: str) -> Episode:
    path = paths.episode_file(episode_key, EPISODE_FILE)
    if not path.exists():
        raise FileNotFoundError(
            f"episode {episode_key} has no {EPISODE_FILE} yet; materialise the `episode` asset for it first "
            "(or run `cast-pipeline run`)"
        )
    return Episode.from_dict(json.loads(path.read_text(encoding="utf-8")))
