"""The one storage layout, and atomic writes.

Layout under the data directory (``CAST_DATA_DIR``)::

    feeds/<feed key>/feed.xml            last fetched feed body
    feeds/<feed key>/fetch.json          HTTP validators (ETag, Last-Modified) and fetch status
    catalog/episodes/<feed key>.parquet  one row per episode of that feed (written by the feed asset)
    episodes/<feed key>/<episode key>/   everything about one episode:
        episode.json                     the item's metadata
        publisher.json                   publisher transcript lookup result + segments
        publisher.raw.<ext>              the publisher transcript as downloaded
        audio.<ext>                      downloaded audio (only when no publisher transcript exists)
        audio.json                       where audio.<ext> came from (URL, size, fingerprint)
        speech-<location>.json           speech model segments (speech-local, speech-gpu, speech-mac)
        transcript.json / transcript.md  the chosen transcript, merged into phrases
        embeddings.parquet               phrase vectors
    search/                              LanceDB and DuckDB files, written by a single writer

Why per-feed and per-episode files: concurrent runs for different partitions never write the same
file, so no run waits on another and DuckDB never sees two writers.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from cast_pipeline.keys import InvalidKeyError, feed_key_of, is_valid_key


@dataclass(frozen=True)
class DataPaths:
    root: Path

    def _checked(self, key: str) -> str:
        if not is_valid_key(key):
            raise InvalidKeyError(f"refusing to build a path from an invalid key: {key!r}")
        return key

    # feeds
    def feed_dir(self, feed_key: str) -> Path:
        return self.root / "feeds" / self._checked(feed_key)

    def feed_body(self, feed_key: str) -> Path:
        return self.feed_dir(feed_key) / "feed.xml"

    def feed_fetch_state(self, feed_key: str) -> Path:
        return self.feed_dir(feed_key) / "fetch.json"

    def feed_file(self, feed_key: str, name: str) -> Path:
        """A file in the feed's directory (e.g. ``pocketcasts.json``: the feed's Pocket Casts show)."""
        if "/" in name or name.startswith("."):
            raise ValueError(f"not a plain file name: {name!r}")
        return self.feed_dir(feed_key) / name

    def provider_state(self, provider: str) -> Path:
        """State a transcript provider keeps across runs (e.g. a rate-limit back-off)."""
        if not is_valid_key(provider):
            raise ValueError(f"not a provider name: {provider!r}")
        return self.root / "providers" / f"{provider}.json"

    # catalog
    @property
    def catalog_dir(self) -> Path:
        return self.root / "catalog"

    def episodes_catalog(self, feed_key: str) -> Path:
        return self.catalog_dir / "episodes" / f"{self._checked(feed_key)}.parquet"

    @property
    def episodes_catalog_glob(self) -> str:
        return str(self.catalog_dir / "episodes" / "*.parquet")

    # episodes
    def episode_dir(self, episode_key: str) -> Path:
        return self.root / "episodes" / feed_key_of(self._checked(episode_key)) / episode_key

    def episode_file(self, episode_key: str, name: str) -> Path:
        """A file in the episode's directory: ``episode.json``, ``transcript.md``, ``audio.mp3``..."""
        if "/" in name or name.startswith("."):
            raise ValueError(f"not a plain file name: {name!r}")
        return self.episode_dir(episode_key) / name

    def episode_glob(self, name: str) -> str:
        """Glob over one file name in every episode directory (for DuckDB ``read_parquet``/``read_json``)."""
        return str(self.root / "episodes" / "*" / "*" / name)

    # search
    @property
    def search_dir(self) -> Path:
        return self.root / "search"


@contextlib.contextmanager
def atomic_writer(path: Path, mode: str = "wb") -> Iterator[IO]:  # type: ignore[type-arg]
    """Open a temp file beside ``path``; on success it replaces ``path``, on error it is removed.

    Readers therefore see either the old file or the complete new one, never a half-written file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temp path beside ``path`` for libraries that write files themselves (Parquet, audio)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes_atomic(path: Path, data: bytes) -> None:
    with atomic_writer(path, "wb") as fh:
        fh.write(data)


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_writer(path, "w") as fh:
        fh.write(text)
