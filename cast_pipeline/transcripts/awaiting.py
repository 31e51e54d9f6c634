"""The awaiting window: a young episode without a ready-made transcript waits before it costs speech.

Why: publishers often add ``<podcast:transcript>`` (and Pocket Casts its generated one) hours or
days after an episode is published. An episode published less than ``CAST_AWAIT_TRANSCRIPT_DAYS``
ago (per feed: ``await_transcript_days`` in feeds.yaml; 0 = never wait) that has none yet is
``awaiting``: no audio download, no speech. It is looked at again on a backing-off schedule
(:data:`FIRST_RECHECK` after the first look, then twice as long each time: 6 h, 12 h, 24 h, ...,
never later than the window's end). At the window's end it goes to audio + speech. Episodes older
than the window (the back catalog), or without a date, go to audio at once.

The state lives in ``await.json`` in the episode's folder (the ``awaiting_transcripts`` sensor reads
its ``next_check``; the audio and speech assets obey its ``state``), with every look in ``history``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from cast_pipeline.feeds.model import Episode
from cast_pipeline.paths import DataPaths, write_text_atomic

AWAIT_FILE = "await.json"
FIRST_RECHECK = timedelta(hours=6)
State = Literal["awaiting", "found", "ended", "not_waiting"]


@dataclass(frozen=True)
class AwaitState:
    state: State
    reason: str
    window_ends: str | None = None  # ISO, UTC
    next_check: str | None = None  # ISO, UTC; only while awaiting
    checks: int = 0  # looks so far
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def awaiting(self) -> bool:
        return self.state == "awaiting"


def backoff(checks: int) -> timedelta:
    """Delay before the next look after ``checks`` looks: 6 h, 12 h, 24 h, ... (capped at 8 days)."""
    return FIRST_RECHECK * (2 ** min(max(checks - 1, 0), 5))


def decide(
    episode: Episode, found: bool, window_days: float, now: datetime, previous: AwaitState | None = None
) -> AwaitState:
    """The episode's state after a look at its providers (``found``: one had a transcript)."""
    checks = (previous.checks if previous else 0) + 1
    history = [*(previous.history if previous else []), {"at": now.isoformat(), "found": found}][-50:]
    if found:
        reason = "a ready-made transcript was found" + (f" after {checks} looks" if checks > 1 else "")
        return AwaitState("found", reason, checks=checks, history=history)
    if window_days <= 0:
        return AwaitState(
            "not_waiting", "the awaiting window is 0 days: straight to audio", checks=checks, history=history
        )
    if episode.published is None:
        return AwaitState("not_waiting", "no publication date: straight to audio", checks=checks, history=history)
    ends = episode.published + timedelta(days=window_days)
    if now >= ends:
        if previous is not None and previous.awaiting:
            reason = f"no ready-made transcript within {window_days:g} days ({checks} looks): going to audio"
        else:
            age = (now - episode.published).total_seconds() / 86400
            reason = f"published {age:.1f} days ago, before the {window_days:g}-day window: straight to audio"
        return AwaitState("ended", reason, ends.isoformat(), checks=checks, history=history)
    next_check = min(now + backoff(checks), ends)
    reason = (
        f"published {(now - episode.published).total_seconds() / 3600:.0f} h ago without a ready-made transcript; "
        f"waiting until {ends:%Y-%m-%d %H:%M} UTC (CAST_AWAIT_TRANSCRIPT_DAYS={window_days:g}), next look "
        f"{next_check:%Y-%m-%d %H:%M} UTC"
    )
    return AwaitState("awaiting", reason, ends.isoformat(), next_check.isoformat(), checks, history)


def load_await(paths: DataPaths, episode_key: str) -> AwaitState | None:
    path = paths.episode_file(episode_key, AWAIT_FILE)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return AwaitState(**data)
    except (OSError, ValueError, TypeError):
        return None  # never decided (or unreadable): the next publisher_transcript run decides again


def save_await(paths: DataPaths, episode_key: str, state: AwaitState) -> None:
    write_text_atomic(paths.episode_file(episode_key, AWAIT_FILE), json.dumps(asdict(state), indent=1))


def awaiting_reason(paths: DataPaths, episode_key: str) -> str | None:
    """Why the episode must not go to audio yet, None when it may."""
    state = load_await(paths, episode_key)
    return state.reason if state is not None and state.awaiting else None


def is_due(state: AwaitState | None, now: datetime | None = None) -> bool:
    """True when an awaiting episode's next look is due."""
    if state is None or not state.awaiting or not state.next_check:
        return False
    return datetime.fromisoformat(state.next_check) <= (now or datetime.now(UTC))


def due_keys(paths: DataPaths, keys: Iterable[str], now: datetime | None = None) -> list[str]:
    """The awaiting episodes among ``keys`` whose next look is due (for `cast-pipeline run`)."""
    return [k for k in keys if is_due(load_await(paths, k), now)]
