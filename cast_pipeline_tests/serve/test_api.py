"""The JSON API of `cast-pipeline serve`, against a real uvicorn server over a real index."""

from __future__ import annotations

import json

import pytest

from cast_pipeline.cli.search import records
from cast_pipeline.paths import DataPaths
from cast_pipeline.search import search
from cast_pipeline.serve.library import MAX_QUERY_CHARS
from cast_pipeline_tests.search.corpus import episodes_and_segments
from cast_pipeline_tests.serve.conftest import Service

pytestmark = pytest.mark.slow  # module setup embeds and indexes the corpus (~10 s)


def test_health_names_the_live_index(service: Service) -> None:
    body = service.client().get("/api/health").json()
    assert body["index"]["status"] == "ok"
    assert body["index"]["model"] == "all-MiniLM-L6-v2"
    assert body["index"]["exact_rerank"] == "lancedb"  # a small archive: exact search, no ANN candidates to re-rank


def test_search_gives_the_same_results_as_the_library_function(service: Service, archive: DataPaths) -> None:
    for mode in ("hybrid", "keyword", "semantic"):
        body = service.client().get("/api/search", params={"q": "sourdough starter", "mode": mode}).json()
        assert body["results"] == records(search("sourdough starter", mode=mode, paths=archive)), mode
    assert body["results"][0]["title"] == "Sourdough from scratch"


def test_search_pages_through_results(service: Service) -> None:
    client = service.client()
    query = {"q": "bread onion password rocket mars", "mode": "keyword"}
    full = client.get("/api/search", params=query | {"limit": 6}).json()["results"]
    first = client.get("/api/search", params=query | {"limit": 3}).json()["results"]
    second = client.get("/api/search", params=query | {"limit": 3, "offset": 3}).json()["results"]
    assert len(full) == 6
    assert first + second == full


def test_search_filters_by_feed_and_dates(service: Service) -> None:
    client = service.client()
    hits = client.get("/api/search", params={"q": "bread", "feed": "Kitchen Science", "mode": "keyword"}).json()
    assert hits["results"] and {r["feed_title"] for r in hits["results"]} == {"Kitchen Science"}
    none = client.get("/api/search", params={"q": "bread", "feed": "Kitchen Science", "until": "2020-01-01"}).json()
    assert none["results"] == []
    dated = client.get("/api/search", params={"q": "bread", "since": "2023-01-01", "until": "2023-03-01"}).json()
    assert dated["results"] and all("2023-03-01" <= r["published"] < "2023-03-02" for r in dated["results"])


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"q": ""}, 400, "empty search query"),
        ({}, 400, "empty search query"),
        ({"q": "?!"}, 400, "empty search query"),
        ({"q": "word " * MAX_QUERY_CHARS}, 400, "too long"),
        ({"q": "bread", "mode": "fuzzy"}, 400, "mode must be one of"),
        ({"q": "bread", "limit": "lots"}, 400, "limit must be a whole number"),
        ({"q": "bread", "limit": "100000"}, 400, "limit must be between"),
        ({"q": "bread", "since": "yesterday"}, 400, "since must be a date"),
        ({"q": "bread", "feed": "No Such Show"}, 400, "no indexed feed matches 'No Such Show'"),
    ],
)
def test_bad_search_input_is_a_400_naming_the_problem(
    service: Service, params: dict[str, str], status: int, message: str
) -> None:
    response = service.client().get("/api/search", params=params)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_episodes_filter_by_feed_status_and_title(service: Service) -> None:
    client = service.client()
    everything = client.get("/api/episodes", params={"limit": 500}).json()
    assert everything["total"] == len(episodes_and_segments()) + 5  # all transcribed + one pending per feed
    pending = client.get("/api/episodes", params={"status": "pending"}).json()
    assert pending["total"] == 5 and {e["title"] for e in pending["episodes"]} == {"Coming soon"}
    kitchen = client.get("/api/episodes", params={"feed": "Kitchen Science", "status": "indexed"}).json()
    assert kitchen["total"] == 3 and {e["feed_title"] for e in kitchen["episodes"]} == {"Kitchen Science"}
    onions = client.get("/api/episodes", params={"title": "ONIONS"}).json()
    assert [e["title"] for e in onions["episodes"]] == ["Why onions make you cry"]
    page = client.get("/api/episodes", params={"limit": 2, "offset": 2}).json()["episodes"]
    assert page == everything["episodes"][2:4]
    assert everything["episodes"][0]["dagster_url"].startswith("http://dagster.test:3000/assets/transcript?")


def test_feeds_count_episodes_by_status(service: Service) -> None:
    feeds = {f["title"]: f for f in service.client().get("/api/feeds").json()["feeds"]}
    assert len(feeds) == 5
    assert (feeds["Kitchen Science"]["episodes"], feeds["Kitchen Science"]["indexed"]) == (4, 3)
    assert feeds["Kitchen Science"]["pending"] == 1


def _first_key(service: Service) -> str:
    return service.client().get("/api/episodes", params={"title": "onions"}).json()["episodes"][0]["key"]


@pytest.mark.parametrize(
    ("fmt", "media_type", "start"),
    [("md", "text/markdown", "# Why onions"), ("srt", "application/x-subrip", "1\n00:00:05,000"),
     ("vtt", "text/vtt", "WEBVTT"), ("txt", "text/plain", "Maya: Cutting an onion"), ("json", "application/json", "{")],
)  # fmt: skip
def test_a_transcript_in_every_format(service: Service, fmt: str, media_type: str, start: str) -> None:
    response = service.client().get(f"/api/episodes/{_first_key(service)}/transcript", params={"format": fmt})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)
    assert response.text.startswith(start)


def test_a_transcript_time_range(service: Service) -> None:
    key = _first_key(service)
    response = service.client().get(f"/api/episodes/{key}/transcript", params={"start": 60, "end": 100})
    segments = json.loads(response.text)["segments"]
    assert [s["start"] for s in segments] == [35.0, 65.0, 95.0]  # phrases overlapping 60-100 s (35-63 does)
    bad = service.client().get(f"/api/episodes/{key}/transcript", params={"start": 100, "end": 60})
    assert bad.status_code == 400 and "before start" in bad.json()["error"]


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/api/episodes/nope--missing", 404, "unknown episode 'nope--missing'"),
        ("/api/episodes/nope--missing/transcript", 404, "has no transcript yet"),
        ("/api/episodes/NOT_A_KEY", 400, "not an episode key: 'NOT_A_KEY'"),
        ("/api/episodes/..%2F..%2Fetc%2Fpasswd/transcript", 404, None),
        ("/api/episodes/%2E%2E/transcript", 400, "not an episode key: '..'"),
        ("/api/episodes/a--b%00/transcript", 400, "not an episode key"),
        ("/api/episodes/x--y/transcript?format=pdf", 400, "unknown transcript format 'pdf'"),
    ],
)
def test_unknown_or_malicious_episode_ids_are_refused(
    service: Service, path: str, status: int, message: str | None
) -> None:
    response = service.client().get(path)
    assert response.status_code == status
    if message:
        assert message in response.json()["error"]
    assert "root:" not in response.text


def test_an_episode_without_a_transcript_yet_is_a_404_that_says_so(service: Service) -> None:
    pending = service.client().get("/api/episodes", params={"status": "pending", "limit": 1}).json()["episodes"][0]
    response = service.client().get(f"/api/episodes/{pending['key']}/transcript")
    assert response.status_code == 404 and "has no transcript yet" in response.json()["error"]
    assert service.client().get(f"/api/episodes/{pending['key']}").json()["status"] == "pending"
