"""Pocket Casts' generated transcripts as a provider: after the publisher's own, before speech.

How an episode is matched (as cast2md does, stricter where a wrong match would be silent):

1. The show: searched by the feed's title, taken when the author matches too (or the title is the
   same); else searched by the feed URL. Its UUID is remembered per feed (``pocketcasts.json`` in the
   feed's folder); a failed lookup is remembered for ``CAST_POCKETCASTS_CACHE_SECONDS``.
2. The show's episode list (show notes) is fetched once per ``CAST_POCKETCASTS_CACHE_SECONDS`` per
   feed (``pocketcasts-episodes.json``), so a batch of 25 episodes costs one request, not 25.
3. The episode: title similarity of at least :data:`TITLE_MIN` *and* published within 24 h. Two
   candidates equally good are refused as ambiguous rather than guessed; a date off by days is
   refused with the gap in the reason (re-runs and re-uploads reuse titles).
4. The VTT of its ``pocket_casts_transcripts`` entry is downloaded and parsed like any transcript.

Switched off globally (``CAST_POCKETCASTS=off``), per feed (``pocketcasts: false`` in feeds.yaml),
and for local ``file://`` feeds, which no directory lists.
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, datetime
from difflib import SequenceMatcher
from typing import Any

from cast_pipeline.feeds.catalog import CatalogError, read_feed
from cast_pipeline.feeds.model import Episode, Feed
from cast_pipeline.paths import write_text_atomic
from cast_pipeline.settings import Settings
from cast_pipeline.transcripts import TranscriptParseError, parse
from cast_pipeline.transcripts.providers.base import ProviderContext, ProviderResult, TranscriptProvider
from cast_pipeline.transcripts.providers.pocketcasts_api import (
    NAME,
    PocketCastsAPI,
    PocketCastsError,
    Show,
    ShowEpisode,
    parse_date,
)

SHOW_FILE = "pocketcasts.json"
EPISODES_FILE = "pocketcasts-episodes.json"
TITLE_MIN = 0.85  # episode titles at least this similar (1.0 = same words)
SHOW_TITLE_MIN = 0.6  # show titles, when the author matches too
MAX_HOURS_APART = 24.0
_OFF = {"off", "0", "false", "no"}


def switched_off(settings: Settings) -> bool:
    """CAST_POCKETCASTS=off (or 0, false, no)."""
    return settings.pocketcasts.strip().lower() in _OFF


def normalize(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", folded).split())


def similarity(a: str, b: str) -> float:
    """1.0 for the same words; 0.9 when one (of 10+ characters) contains the other; else difflib's ratio."""
    na, nb = normalize(a), normalize(b)
    if not na or not nb:
        return 0.0
    if na == nb:
        return 1.0
    if min(len(na), len(nb)) >= 10 and (na in nb or nb in na):
        return 0.9
    return SequenceMatcher(None, na, nb).ratio()


def _same_author(a: str | None, b: str | None) -> bool:
    na, nb = normalize(a or ""), normalize(b or "")
    return bool(na and nb) and (na == nb or na in nb or nb in na)


def choose_show(shows: list[Show], feed: Feed) -> tuple[Show, str] | None:
    """The show that is this feed: title and author, else the very same title."""
    for show in shows:
        if _same_author(show.author, feed.author) and similarity(show.title, feed.title) >= SHOW_TITLE_MIN:
            return show, "title and author"
    for show in shows:
        if normalize(show.title) == normalize(feed.title):
            return show, "title"
    return None


def _hours_apart(episode: Episode, candidate: ShowEpisode) -> float | None:
    if episode.published is None or candidate.published is None:
        return None
    return abs((episode.published - candidate.published).total_seconds()) / 3600


def match_episode(episode: Episode, candidates: list[ShowEpisode]) -> tuple[ShowEpisode | None, str, dict[str, Any]]:
    """The show's episode that is ``episode``, or None and the reason (see module docstring)."""
    scored = sorted(((similarity(episode.title, c.title), c) for c in candidates), key=lambda sc: -sc[0])
    titled = [(s, c) for s, c in scored if s >= TITLE_MIN]
    if not titled:
        closest = f" (closest: {scored[0][1].title!r}, similarity {scored[0][0]:.2f})" if scored else ""
        return None, f"no episode of the show has a title like {episode.title!r}{closest}", {}
    dated = []
    for score, cand in titled:
        hours = _hours_apart(episode, cand)
        if (hours is not None and hours <= MAX_HOURS_APART) or (hours is None and score == 1.0):
            dated.append((score, hours if hours is not None else MAX_HOURS_APART, cand))
    if not dated:
        score, cand = titled[0]
        hours = _hours_apart(episode, cand)
        gap = f"published {hours / 24:.1f} days apart" if hours is not None else "one of them has no date"
        return None, f"the show's episode {cand.title!r} has a similar title but was {gap} (limit 24 h); not taken", {}
    dated.sort(key=lambda shc: (-shc[0], shc[1]))
    best = dated[0]
    if len(dated) > 1 and dated[1][0] == best[0] and dated[1][1] == best[1]:
        return None, f"two episodes of the show match {episode.title!r} equally well; not guessing", {}
    score, hours, cand = best
    return (
        cand,
        "",
        {
            "episode_uuid": cand.uuid,
            "matched_title": cand.title,
            "title_similarity": round(score, 3),
            "hours_apart": round(hours, 2),
        },
    )


class PocketCastsProvider(TranscriptProvider):
    name = NAME
    priority = 20

    def _disabled(self, episode: Episode, ctx: ProviderContext) -> str | None:
        if switched_off(ctx.settings):
            return "switched off (CAST_POCKETCASTS=off)"
        if ctx.feed_options is not None and ctx.feed_options.pocketcasts is False:
            return "switched off for this feed (pocketcasts: false in the feeds file)"
        if episode.feed_url.lower().startswith("file:"):
            return "a local feed file is not listed in Pocket Casts"
        return None

    def fetch(self, episode: Episode, ctx: ProviderContext) -> ProviderResult:
        label = f"episode {episode.title!r}"
        off = self._disabled(episode, ctx)
        if off is not None:
            return ProviderResult(self.name, "disabled", reasons=[off])
        api = PocketCastsAPI(ctx.settings, ctx.paths, ctx.client)
        try:
            show = self._show(episode, ctx, api)
            if isinstance(show, str):
                return ProviderResult(self.name, "none", reasons=[f"{label}: {show}"])
            candidates = self._episodes(episode.feed_key, show, ctx, api)
        except PocketCastsError as exc:
            return ProviderResult(self.name, "error", reasons=[f"{label}: {exc.reason}"])
        match, why, details = match_episode(episode, candidates)
        details = {"show_uuid": show.uuid, "show_title": show.title, **details}
        if match is None:
            return ProviderResult(self.name, "none", reasons=[f"{label}: {why}"], details=details)
        links = sorted(match.transcripts, key=lambda ut: not ("vtt" in ut[1].lower() or ut[0].lower().endswith(".vtt")))
        if not links:
            reason = f"{label}: Pocket Casts has the episode ({match.uuid}) but no transcript for it yet"
            return ProviderResult(self.name, "none", reasons=[reason], details=details)
        return self._download(label, links[0][0], ctx, api, details)

    def listed(self, episodes: list[Episode], ctx: ProviderContext) -> tuple[dict[str, str], str | None]:
        """{episode key: transcript URL} for the episodes (of one feed) Pocket Casts now lists one for.

        For the late look after speech (cast_pipeline.transcripts.late): it costs the show's episode
        list, fetched at most once per CAST_POCKETCASTS_CACHE_SECONDS per feed (one request for all
        its episodes), and downloads nothing; the run it leads to fetches the VTT. The second value is
        why nothing could be looked at (switched off, no show, an error), else None.
        """
        if not episodes:
            return {}, None
        off = self._disabled(episodes[0], ctx)
        if off is not None:
            return {}, off
        api = PocketCastsAPI(ctx.settings, ctx.paths, ctx.client)
        try:
            show = self._show(episodes[0], ctx, api)
            if isinstance(show, str):
                return {}, show
            candidates = self._episodes(episodes[0].feed_key, show, ctx, api)
        except PocketCastsError as exc:
            return {}, exc.reason
        found: dict[str, str] = {}
        for episode in episodes:
            match, _, _ = match_episode(episode, candidates)
            links = sorted(match.transcripts, key=lambda ut: "vtt" not in ut[1].lower()) if match else []
            if links:
                found[episode.key] = links[0][0]
        return found, None

    def _download(
        self, label: str, url: str, ctx: ProviderContext, api: PocketCastsAPI, details: dict[str, Any]
    ) -> ProviderResult:
        try:
            got = api.get(url, ctx.settings.max_transcript_bytes, "CAST_MAX_TRANSCRIPT_BYTES")
            segments = parse(got.body, "text/vtt", got.final_url)
            if not any(s.text.strip() for s in segments):
                raise TranscriptParseError(url, "the file parsed but contains no text")
        except PocketCastsError as exc:
            status = "error" if exc.status == 429 else "unusable"
            return ProviderResult(
                self.name, status, url=url, reasons=[f"{label}: {url}: {exc.reason}"], details=details
            )
        except TranscriptParseError as exc:
            return ProviderResult(
                self.name, "unusable", url=url, reasons=[f"{label}: {url}: {exc.reason}"], details=details
            )
        return ProviderResult(self.name, "found", segments, got.body, "vtt", NAME, url, details=details)

    def _show(self, episode: Episode, ctx: ProviderContext, api: PocketCastsAPI) -> Show | str:
        """The feed's show (remembered), or the reason there is none."""
        path = ctx.paths.feed_file(episode.feed_key, SHOW_FILE)
        state = _read_json(path)
        now = datetime.now(UTC)
        if state.get("show_uuid"):
            return Show(state["show_uuid"], state.get("title") or "", state.get("author") or "")
        checked = parse_date(state.get("checked_at"))
        if state.get("reason") and checked and (now - checked).total_seconds() < ctx.settings.pocketcasts_cache_seconds:
            return f"{state['reason']} (looked up {checked:%Y-%m-%d %H:%M} UTC; asked again after the cache time)"
        try:
            feed = read_feed(ctx.paths, episode.feed_key)
        except CatalogError:
            feed = Feed(episode.feed_key, episode.feed_url, episode.feed_title)
        chosen = choose_show(api.search(feed.title), feed) if feed.title else None
        if chosen is None:
            by_url = api.search(feed.url)
            if len(by_url) == 1 or (by_url and similarity(by_url[0].title, feed.title) >= SHOW_TITLE_MIN):
                chosen = by_url[0], "feed URL"
        if chosen is None:
            reason = f"no show in Pocket Casts matches the feed {feed.title!r} (by {feed.author or 'unknown author'})"
            write_text_atomic(path, json.dumps({"show_uuid": None, "reason": reason, "checked_at": now.isoformat()}))
            return reason
        show, how = chosen
        record = {
            "show_uuid": show.uuid,
            "title": show.title,
            "author": show.author,
            "matched_by": how,
            "checked_at": now.isoformat(),
        }
        write_text_atomic(path, json.dumps(record, ensure_ascii=False))
        return show

    def _episodes(self, feed_key: str, show: Show, ctx: ProviderContext, api: PocketCastsAPI) -> list[ShowEpisode]:
        path = ctx.paths.feed_file(feed_key, EPISODES_FILE)
        cached = _read_json(path)
        fetched = parse_date(cached.get("fetched_at"))
        age = (datetime.now(UTC) - fetched).total_seconds() if fetched else None
        if (
            cached.get("show_uuid") == show.uuid
            and age is not None
            and 0 <= age < ctx.settings.pocketcasts_cache_seconds
        ):
            return [
                ShowEpisode(e["uuid"], e["title"], parse_date(e.get("published")), tuple(map(tuple, e["transcripts"])))
                for e in cached.get("episodes") or []
            ]
        episodes = api.show_episodes(show.uuid)
        rows = [
            {
                "uuid": e.uuid,
                "title": e.title,
                "published": e.published.isoformat() if e.published else None,
                "transcripts": [list(t) for t in e.transcripts],
            }
            for e in episodes
        ]
        state = {"show_uuid": show.uuid, "fetched_at": datetime.now(UTC).isoformat(), "episodes": rows}
        write_text_atomic(path, json.dumps(state, ensure_ascii=False))
        return episodes


def _read_json(path: Any) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


PROVIDER = PocketCastsProvider()
