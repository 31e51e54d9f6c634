"""Are an episode's files still what the pipeline recorded? Fingerprints, and a cheap and a full check.

Why: Dagster's records say which partitions were materialised, not whether their files are still on disk
and intact. A deleted ``embeddings.parquet`` or a truncated ``transcript.json`` would otherwise stay
"materialised" for good (the episode silently leaves search, `transcript show` fails). So every
per-episode asset that writes files records, in its materialisation metadata under ``files``, each file's
size and SHA-256 computed from the file as written (:func:`files_metadata`), and two checks compare:

- cheap (inside every ``cast-pipeline run``): each recorded file exists and has its recorded size. One
  ``stat`` per file, no reads: a deletion or a truncation is caught at a cost of microseconds per file.
- full (``cast-pipeline run --repair``, ``cast-pipeline doctor``): also the SHA-256 of the content and
  the file parses (JSON, Parquet), which catches same-size damage as well.

Records made before fingerprints were recorded name no files: the files an asset must have written are
then derived from its recorded status (``transcript`` "ready" wrote transcript.json and .md, ...), checked
for existence (cheap) and parsing (full). Plain Python: the Dagster side only feeds in the metadata
(:mod:`cast_pipeline.defs.storage.records`).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cast_pipeline.paths import DataPaths

FILES = "files"  # metadata entry: {file name: {"bytes": int, "sha256": hex}}
RECORDED_ENTRIES = ("title", "status", FILES)  # the metadata entries the checks read
TEMP_GRACE_SECONDS = 3600  # younger temp files may belong to a writer that is still running
_CHUNK = 1 << 20

# The file(s) each per-episode asset writes, by recorded status, for records without ``files``.
_BY_STATUS: dict[str, dict[str | None, tuple[str, ...]]] = {
    "episode": {None: ("episode.json",)},
    "publisher_transcript": {None: ("publisher.json",)},
    "transcript": {"ready": ("transcript.json", "transcript.md")},
    "embeddings": {"embedded": ("embeddings.parquet",), "unchanged": ("embeddings.parquet",)},
}
_SPEECH_SUFFIX = "/speech_transcript"
SPEAKERS_PREFIX = "speakers-"  # cast_pipeline.speakers.model.speakers_file (not imported: it pulls torch)


def fingerprint_file(path: Path) -> dict[str, Any]:
    """``{"bytes": size, "sha256": hex digest}`` of the file's content."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return {"bytes": size, "sha256": digest.hexdigest()}


def files_metadata(directory: Path, names: Iterable[str]) -> dict[str, Any]:
    """The ``files`` metadata entry for the named files of ``directory`` that exist (call after writing)."""
    found = {name: fingerprint_file(directory / name) for name in names if (directory / name).is_file()}
    return {FILES: found}


def expected_files(asset: str, metadata: Mapping[str, Any]) -> dict[str, Mapping[str, Any] | None]:
    """``{file name: recorded fingerprint or None}`` that the asset's latest materialisation left behind."""
    recorded = metadata.get(FILES)
    if isinstance(recorded, Mapping):
        return {str(name): fp if isinstance(fp, Mapping) else None for name, fp in recorded.items()}
    status = metadata.get("status")
    if asset.endswith(_SPEECH_SUFFIX):
        prefix = asset.removesuffix(_SPEECH_SUFFIX)
        return {f"speech-{prefix}.json": None} if status == "transcribed" else {}
    rules = _BY_STATUS.get(asset, {})
    names = rules.get(None, ()) or rules.get(str(status), ())
    return dict.fromkeys(names)


def _parse(name: str, path: Path, episode_key: str) -> None:
    """Raise when the file does not read as what it should be."""
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        from cast_pipeline.search.embeddings import validate_embeddings

        validate_embeddings(episode_key, pq.read_table(path))
    elif name == "episode.json":
        from cast_pipeline.feeds.model import Episode

        Episode.from_dict(json.loads(path.read_text(encoding="utf-8")))
    elif name.startswith(SPEAKERS_PREFIX) and name.endswith(".json"):
        from cast_pipeline.speakers.model import read_turns

        read_turns(path)
    elif name.endswith(".json"):
        from cast_pipeline.segments import segments_from_json

        segments_from_json(path.read_bytes())
    elif name.endswith(".md"):
        path.read_text(encoding="utf-8")


def check_file(path: Path, recorded: Mapping[str, Any] | None, *, full: bool, episode_key: str = "") -> str | None:
    """What is wrong with the file (one phrase), or None when it matches the record."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "missing"
    wanted = recorded.get("bytes") if recorded else None
    if isinstance(wanted, int) and size != wanted:
        return f"{size} bytes, {wanted} were written (truncated or overwritten)"
    if size == 0:
        return "empty"
    if not full:
        return None
    digest = recorded.get("sha256") if recorded else None
    if digest and fingerprint_file(path)["sha256"] != digest:
        return "content differs from the fingerprint recorded when it was written"
    try:
        _parse(path.name, path, episode_key)
    except Exception as exc:  # any parser error means the file cannot be used
        return f"does not parse ({type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''})"
    return None


@dataclass(frozen=True)
class FileProblem:
    """One damaged file of one episode, and the asset that wrote it (what to re-materialise)."""

    episode_key: str
    title: str
    asset: str  # asset key as a user string, e.g. "transcript", "local/speech_transcript"
    file: str
    problem: str

    def describe(self) -> str:
        return f"{self.file} {self.problem}"


def episode_title(recorded: Mapping[str, Mapping[str, Any]], episode_key: str) -> str:
    """The episode's title from any of its recorded materialisations, else its key."""
    for metadata in recorded.values():
        title = metadata.get("title")
        if isinstance(title, str) and title:
            return title
    return episode_key


def verify_episode(
    paths: DataPaths, episode_key: str, recorded: Mapping[str, Mapping[str, Any]], *, full: bool
) -> list[FileProblem]:
    """Problems with the files of one episode; ``recorded`` maps asset -> its latest metadata."""
    directory = paths.episode_dir(episode_key)
    title = episode_title(recorded, episode_key)
    problems = []
    for asset, metadata in recorded.items():
        for name, fingerprint in expected_files(asset, metadata).items():
            if "/" in name or name.startswith("."):
                continue  # never follow a recorded name out of the episode's folder
            problem = check_file(directory / name, fingerprint, full=full, episode_key=episode_key)
            if problem is not None:
                problems.append(FileProblem(episode_key, title, asset, name, problem))
    return problems


def orphaned_episode_dirs(paths: DataPaths, known: set[str]) -> list[Path]:
    """Episode folders whose key is not an ``episodes`` partition of the instance."""
    root = paths.root / "episodes"
    if not root.is_dir():
        return []
    return sorted(d for d in root.glob("*/*") if d.is_dir() and d.name not in known)


def stale_temp_files(paths: DataPaths, *, grace_seconds: float = TEMP_GRACE_SECONDS) -> list[Path]:
    """Temp files of atomic writes (``.<name>.<random>.tmp``) older than ``grace_seconds``: left by a crash."""
    cutoff = time.time() - grace_seconds
    found = []
    patterns = ("episodes/*/*/.*.tmp", "catalog/episodes/.*.tmp", "feeds/*/.*.tmp", "search/.*.tmp")
    for pattern in (*patterns, "search/.analytics.*.duckdb*"):  # the last: search.analytics.export_analytics
        for path in paths.root.glob(pattern):
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    found.append(path)
            except FileNotFoundError:  # its writer just renamed it into place
                continue
    return sorted(found)
