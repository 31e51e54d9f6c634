"""The Pocket Casts provider against a faithful local stand-in of its API (real HTTP, same shapes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cast_pipeline.feeds.catalog import write_feed_catalog
from cast_pipeline.feeds.model import Episode, Feed
from cast_pipeline.feeds.registry import FeedEntry
from cast_pipeline.keys import episode_key, feed_key
from cast_pipeline.paths import DataPaths
from cast_pipeline.settings import Settings, load_settings
from cast_pipeline.transcripts.providers import ProviderContext, find_ready_made, providers, ready_made
from cast_pipeline.transcripts.providers.pocketcasts import PROVIDER, SHOW_FILE
from cast_pipeline_tests.transcripts.pocketcasts_standin import PCEpisode, PCShow, PocketCastsStandIn

FEED_URL = "https://feeds.example.org/rustacean.xml"
FK = feed_key(FEED_URL)
VTT = "WEBVTT\n\n00:00:00.000 --> 00:00:04.000\nWelcome to {topic}, a generated transcript.\n"
PUB = "2023-03-06T10:00:00Z"


@pytest.fixture
def standin() -> Iterator[PocketCastsStandIn]:
    server = PocketCastsStandIn().start()
    try:
        yield server
    finally:
        server.stop()


def _settings(data_dir: Path, standin: PocketCastsStandIn, **extra: object) -> Settings:
    values = {"pocketcasts": "on", "pocketcasts_api_url": standin.base_url, "pocketcasts_min_interval": 0}
    return load_settings(data_dir=data_dir, **{**values, **extra})


def _feed(paths: DataPaths, items: list[tuple[str, str]], title: str = "Rustacean Station") -> dict[str, Episode]:
    """Write the feed's catalog (title, author) with items (title, ISO date); returns {title: episode}."""
    feed = Feed(FK, FEED_URL, title, author="Rust Community")
    episodes = [
        Episode(episode_key(FK, f"guid-{i}"), FK, FEED_URL, title, f"guid-{i}", t, published=datetime.fromisoformat(d))
        for i, (t, d) in enumerate(items)
    ]
    write_feed_catalog(paths, feed, episodes)
    return {e.title: e for e in episodes}


def _show(
    standin: PocketCastsStandIn, episodes: list[PCEpisode], title: str = "Rustacean Station", feed_url: str = FEED_URL
) -> PCShow:
    return standin.add_show(PCShow(title, "Rust Community Team", feed_url, episodes))


def _ask(episode: Episode, settings: Settings, options: FeedEntry | None = None):
    ctx = ProviderContext(settings, DataPaths(settings.data_dir), None, options)
    return PROVIDER.fetch(episode, ctx)


def test_providers_are_found_by_module_in_priority_order() -> None:
    assert [p.name for p in providers()] == ["publisher", "pocketcasts"]


def test_finds_the_show_by_title_and_author_and_remembers_it(standin: PocketCastsStandIn, paths: DataPaths) -> None:
    eps = _feed(paths, [("Rust in 2023", "2023-03-06T10:00:00+00:00"), ("Async traits", "2023-03-13T10:00:00+00:00")])
    show = _show(
        standin,
        [
            PCEpisode("Rust in 2023", PUB, VTT.format(topic="Rust in 2023")),
            PCEpisode("Async Traits!", "2023-03-13T18:00:00Z", VTT.format(topic="async traits")),
        ],
    )
    settings = _settings(paths.root, standin)

    first = _ask(eps["Rust in 2023"], settings)
    assert first.status == "found" and first.source == "pocketcasts"
    assert first.segments[0].text == "Welcome to Rust in 2023, a generated transcript."
    assert first.details["show_uuid"] == show.uuid and first.details["hours_apart"] == 0
    remembered = json.loads(paths.feed_file(FK, SHOW_FILE).read_text())
    assert remembered["show_uuid"] == show.uuid and remembered["matched_by"] == "title and author"

    # The second episode (title differs in case and punctuation, 8 h apart) costs only its VTT.
    before = len(standin.requests)
    second = _ask(eps["Async traits"], settings)
    assert second.status == "found" and second.details["matched_title"] == "Async Traits!"
    assert [r.path for r in standin.requests[before:]] == [standin.vtt_path(show, show.episodes[1])]


def test_a_show_that_is_not_in_pocket_casts_is_none_and_not_searched_again(
    standin: PocketCastsStandIn, paths: DataPaths
) -> None:
    eps = _feed(paths, [("Pilot", "2023-03-06T10:00:00+00:00")], title="Tiny Local Radio")
    other_feed = "https://other.example.org/feed.xml"
    _show(standin, [PCEpisode("Pilot", PUB, VTT.format(topic="pilot"))], title="Rustacean Station", feed_url=other_feed)
    settings = _settings(paths.root, standin)
    result = _ask(eps["Pilot"], settings)
    assert result.status == "none"
    assert "no show in Pocket Casts matches the feed 'Tiny Local Radio' (by Rust Community)" in result.reasons[0]
    assert "'Pilot'" in result.reasons[0]
    searches = len(standin.requests_to("/discover/search"))
    assert searches == 2  # by title, then by feed URL
    assert _ask(eps["Pilot"], settings).status == "none"
    assert len(standin.requests_to("/discover/search")) == searches


def test_of_two_similar_titles_the_right_one_is_taken(standin: PocketCastsStandIn, paths: DataPaths) -> None:
    eps = _feed(paths, [("Rust in Production, part 2", "2023-03-06T10:00:00+00:00")])
    _show(
        standin,
        [
            PCEpisode("Rust in Production, part 1", PUB, VTT.format(topic="part one")),
            PCEpisode("Rust in Production, part 2", PUB, VTT.format(topic="part two")),
        ],
    )
    result = _ask(eps["Rust in Production, part 2"], _settings(paths.root, standin))
    assert result.status == "found" and "part two" in result.segments[0].text


def test_two_equally_good_candidates_are_refused_not_guessed(standin: PocketCastsStandIn, paths: DataPaths) -> None:
    eps = _feed(paths, [("Mailbag", "2023-03-06T10:00:00+00:00")])
    _show(standin, [PCEpisode("Mailbag", PUB, VTT.format(topic="a")), PCEpisode("Mailbag", PUB, VTT.format(topic="b"))])
    result = _ask(eps["Mailbag"], _settings(paths.root, standin))
    assert result.status == "none" and "match 'Mailbag' equally well; not guessing" in result.reasons[0]


def test_a_date_two_days_off_is_not_the_same_episode(standin: PocketCastsStandIn, paths: DataPaths) -> None:
    eps = _feed(paths, [("Season finale", "2023-03-06T10:00:00+00:00")])
    _show(standin, [PCEpisode("Season finale", "2023-03-08T10:00:00Z", VTT.format(topic="rerun"))])
    result = _ask(eps["Season finale"], _settings(paths.root, standin))
    assert result.status == "none"
    assert "'Season finale' has a similar title but was published 2.0 days apart (limit 24 h)" in result.reasons[0]


def test_an_episode_without_a_generated_transcript_is_none(standin: PocketCastsStandIn, paths: DataPaths) -> None:
    eps = _feed(paths, [("Fresh", "2023-03-06T10:00:00+00:00")])
    _show(standin, [PCEpisode("Fresh", PUB, vtt=None)])
    result = _ask(eps["Fresh"], _settings(paths.root, standin))
    assert result.status == "none" and "no transcript for it yet" in result.reasons[0]


def test_a_404_transcript_is_unusable_with_the_url(standin: PocketCastsStandIn, paths: DataPaths) -> None:
    eps = _feed(paths, [("Gone", "2023-03-06T10:00:00+00:00")])
    show = _show(standin, [PCEpisode("Gone", PUB, VTT.format(topic="gone"))])
    standin.fault(standin.vtt_path(show, show.episodes[0]), 404, "not found")
    result = _ask(eps["Gone"], _settings(paths.root, standin))
    assert result.status == "unusable" and "HTTP 404" in result.reasons[0]
    assert result.reasons[0].startswith("episode 'Gone': http://127.0.0.1")


def test_a_binary_vtt_is_unusable(standin: PocketCastsStandIn, paths: DataPaths) -> None:
    eps = _feed(paths, [("Noise", "2023-03-06T10:00:00+00:00")])
    _show(standin, [PCEpisode("Noise", PUB, vtt=bytes(range(256)) * 64)])
    result = _ask(eps["Noise"], _settings(paths.root, standin))
    assert result.status == "unusable" and "binary" in result.reasons[0]


@pytest.mark.parametrize(
    ("path", "status", "body", "expected"),
    [
        ("/discover/search", 200, "<!DOCTYPE html><html>Sign in</html>", "is an HTML page, not JSON"),
        ("/discover/search", 200, "", "came back empty"),
        ("/discover/search", 200, '{"podcasts": []}', "answered dict, expected a list"),
        ("/discover/search", 500, "oops", "answered HTTP 500"),
        ("/static/show_notes/{uuid}.json", 200, "", "came back empty"),
        ("/static/show_notes/{uuid}.json", 200, "{not json", "is not valid JSON"),
        ("/static/show_notes/{uuid}.json", 200, '{"podcast": {}}', "have no podcast.episodes list"),
    ],
)
def test_bad_answers_are_errors_with_a_reason(
    standin: PocketCastsStandIn, paths: DataPaths, path: str, status: int, body: str, expected: str
) -> None:
    eps = _feed(paths, [("Ep", "2023-03-06T10:00:00+00:00")])
    show = _show(standin, [PCEpisode("Ep", PUB, VTT.format(topic="ep"))])
    standin.fault(path.format(uuid=show.uuid), status, body, {"Content-Type": "text/html" if "<" in body else "x"})
    result = _ask(eps["Ep"], _settings(paths.root, standin))
    assert result.status == "error" and expected in result.reasons[0], result.reasons


def test_a_redirect_loop_is_reported_as_one(standin: PocketCastsStandIn, paths: DataPaths) -> None:
    eps = _feed(paths, [("Ep", "2023-03-06T10:00:00+00:00")])
    show = _show(standin, [PCEpisode("Ep", PUB, VTT.format(topic="ep"))])
    standin.fault(
        f"/static/show_notes/{show.uuid}.json", 302, headers={"Location": f"/mobile/show_notes/full/{show.uuid}"}
    )
    result = _ask(eps["Ep"], _settings(paths.root, standin))
    assert result.status == "error" and "redirect loop" in result.reasons[0]


def test_a_429_is_respected_until_retry_after(standin: PocketCastsStandIn, paths: DataPaths) -> None:
    eps = _feed(paths, [("Ep", "2023-03-06T10:00:00+00:00"), ("Ep two", "2023-03-07T10:00:00+00:00")])
    _show(standin, [PCEpisode("Ep", PUB, VTT.format(topic="ep"))])
    standin.fault("/discover/search", 429, "slow down", {"Retry-After": "120"})
    settings = _settings(paths.root, standin)
    result = _ask(eps["Ep"], settings)
    assert result.status == "error"
    assert "HTTP 429 Too Many Requests" in result.reasons[0] and "Retry-After: 120" in result.reasons[0]
    asked = len(standin.requests)
    again = _ask(eps["Ep two"], settings)  # within the two minutes: not asked at all
    assert again.status == "error" and "not asking again before" in again.reasons[0]
    assert len(standin.requests) == asked


def test_switched_off_globally_per_feed_and_for_local_feeds(standin: PocketCastsStandIn, paths: DataPaths) -> None:
    eps = _feed(paths, [("Ep", "2023-03-06T10:00:00+00:00")])
    _show(standin, [PCEpisode("Ep", PUB, VTT.format(topic="ep"))])
    off = _ask(eps["Ep"], _settings(paths.root, standin, pocketcasts="off"))
    per_feed = _ask(eps["Ep"], _settings(paths.root, standin), FeedEntry(FEED_URL, pocketcasts=False))
    local = Episode(episode_key(FK, "x"), FK, "file:///tmp/show.xml", "Rustacean Station", "x", "Ep")
    assert off.status == per_feed.status == "disabled"
    assert "CAST_POCKETCASTS=off" in off.reasons[0] and "pocketcasts: false" in per_feed.reasons[0]
    assert _ask(local, _settings(paths.root, standin)).status == "disabled"
    assert standin.requests == []


def test_the_chain_records_each_answer_and_keeps_a_found_transcript(
    standin: PocketCastsStandIn, paths: DataPaths
) -> None:
    eps = _feed(paths, [("Ep", "2023-03-06T10:00:00+00:00")])
    _show(standin, [PCEpisode("Ep", PUB, VTT.format(topic="ep"))])
    settings = _settings(paths.root, standin)
    ctx = ProviderContext(settings, paths)
    chain = find_ready_made(eps["Ep"], ctx)
    assert [(r.provider, r.status) for r in chain.results] == [("publisher", "none"), ("pocketcasts", "found")]
    assert ready_made(paths, eps["Ep"].key).source == "pocketcasts"
    assert paths.episode_file(eps["Ep"].key, "pocketcasts.raw.vtt").read_bytes().startswith(b"WEBVTT")

    # Later Pocket Casts rate-limits us: the transcript we have stays, the reason is reported.
    paths.feed_file(FK, "pocketcasts-episodes.json").unlink()
    standin.fault("/mobile/show_notes/full/" + chain.found.details["show_uuid"], 429, headers={"Retry-After": "5"})
    again = find_ready_made(eps["Ep"], ctx)
    assert again.found is not None and again.found.source == "pocketcasts"
    assert any("kept the transcript found earlier (pocketcasts); this time: error" in r for r in again.reasons)
    assert ready_made(paths, eps["Ep"].key) is not None


def test_a_show_found_only_by_its_feed_url(standin: PocketCastsStandIn, paths: DataPaths) -> None:
    eps = _feed(paths, [("Pilot", "2023-03-06T10:00:00+00:00")], title="Tiny Local Radio")
    show = _show(standin, [PCEpisode("Pilot", PUB, VTT.format(topic="pilot"))], title="TLR (official)")
    result = _ask(eps["Pilot"], _settings(paths.root, standin))
    assert result.status == "found" and result.details["show_uuid"] == show.uuid
    assert json.loads(paths.feed_file(FK, SHOW_FILE).read_text())["matched_by"] == "feed URL"


def test_published_dates_are_compared_in_utc(standin: PocketCastsStandIn, paths: DataPaths) -> None:
    eps = _feed(paths, [("Late show", "2023-03-06T23:30:00-05:00")])  # 04:30 UTC on the 7th
    _show(standin, [PCEpisode("Late show", "2023-03-07T04:30:00Z", VTT.format(topic="late"))])
    result = _ask(eps["Late show"], _settings(paths.root, standin))
    assert result.status == "found" and result.details["hours_apart"] == 0
    assert datetime(2023, 3, 7, 4, 30, tzinfo=UTC) == eps["Late show"].published
