"""The service when exposed (token), when the index is missing, corrupt or replaced: clear answers, still up."""

from __future__ import annotations

import json
import shutil

import pytest

from cast_pipeline.paths import DataPaths
from cast_pipeline.search import rebuild_index, remove_episodes
from cast_pipeline.search.embeddings import BUNDLED_MODEL
from cast_pipeline.search.store import MANIFEST, read_manifest
from cast_pipeline.search.sync import sync_index
from cast_pipeline.serve.app import ExposureError, build_app
from cast_pipeline.serve.library import Library
from cast_pipeline_tests.serve.conftest import start_service

pytestmark = pytest.mark.slow  # module setup embeds and indexes the corpus (~10 s)
TOKEN = "s3cret-token-for-tests"


def test_exposing_the_service_without_a_token_is_refused(archive: DataPaths) -> None:
    with pytest.raises(ExposureError, match="CAST_API_TOKEN"):
        build_app(Library(archive), host="0.0.0.0")
    build_app(Library(archive), host="0.0.0.0", token=TOKEN, warm=False)  # with a token it is allowed


def test_with_a_token_every_route_but_health_needs_it(archive: DataPaths) -> None:
    svc = start_service(archive, token=TOKEN)
    try:
        anonymous, wrong, right = svc.client(), svc.client("wrong-token"), svc.client(TOKEN)
        assert anonymous.get("/api/health").status_code == 200
        for path in ("/api/search?q=bread", "/api/feeds", "/api/episodes", "/", "/search?q=bread", "/mcp"):
            missing = anonymous.get(path)
            assert missing.status_code == 401, path
            assert "missing token" in missing.json()["error"]
            assert missing.headers["www-authenticate"].startswith("Bearer")
            assert wrong.get(path).status_code == 401
            assert "wrong token" in wrong.get(path).json()["error"]
        assert right.get("/api/search", params={"q": "bread"}).json()["results"]
        assert right.get("/").status_code == 200
        # a browser opens a page once with ?token=, then the HttpOnly cookie carries it
        browser = svc.client()
        first = browser.get("/", params={"token": TOKEN}, follow_redirects=False)
        assert first.status_code == 303 and "token" not in first.headers["location"]
        assert "httponly" in first.headers["set-cookie"].lower()
        assert browser.get("/api/feeds").status_code == 200
    finally:
        svc.stop()


def test_a_missing_index_is_a_503_with_the_reason_and_the_rest_still_works(archive_copy: DataPaths) -> None:
    shutil.rmtree(archive_copy.search_dir)
    svc = start_service(archive_copy)
    try:
        client = svc.client()
        response = client.get("/api/search", params={"q": "bread"})
        assert response.status_code == 503
        assert "search is unavailable" in response.json()["error"]
        assert client.get("/api/health").json()["index"]["status"] == "degraded"
        assert client.get("/api/feeds").status_code == 200  # browsing needs no index
        key = client.get("/api/episodes", params={"title": "onions"}).json()["episodes"][0]["key"]
        assert client.get(f"/api/episodes/{key}/transcript").status_code == 200
        page = client.get("/search", params={"q": "bread"})
        assert page.status_code == 503 and "search is unavailable" in page.text
    finally:
        svc.stop()


@pytest.mark.parametrize("damage", ["manifest", "table_data"])
def test_a_corrupt_index_is_a_503_with_the_reason_and_the_service_stays_up(
    archive_copy: DataPaths, damage: str
) -> None:
    manifest = read_manifest(archive_copy)
    assert manifest is not None
    if damage == "manifest":
        (archive_copy.search_dir / MANIFEST).write_text("{not json", encoding="utf-8")
    else:
        lance_dir = archive_copy.search_dir / manifest.generation
        for data in lance_dir.glob("segments.lance/data/*.lance"):
            data.write_bytes(b"garbage")
    svc = start_service(archive_copy)
    try:
        client = svc.client()
        for _ in range(2):  # and again: the failure did not take the service down
            response = client.get("/api/search", params={"q": "bread", "mode": "hybrid"})
            assert response.status_code == 503, response.text
            assert "search_index" in response.json()["error"]
        assert client.get("/api/health").status_code == 200
        assert client.get("/api/feeds").status_code == 200
    finally:
        svc.stop()


def test_a_new_index_version_is_picked_up_without_a_restart(archive_copy: DataPaths) -> None:
    svc = start_service(archive_copy)
    try:
        client = svc.client()
        before = client.get("/api/search", params={"q": "sourdough", "mode": "keyword"}).json()
        key = before["results"][0]["episode_key"]
        remove_episodes(archive_copy, [key])  # an incremental update by the single writer
        after = client.get("/api/search", params={"q": "sourdough", "mode": "keyword"}).json()
        assert key not in {r["episode_key"] for r in after["results"]}
        rebuild_index(archive_copy)  # a new generation goes live
        rebuilt = client.get("/api/search", params={"q": "sourdough", "mode": "keyword"}).json()
        assert rebuilt["generation"] != before["generation"]
        assert key in {r["episode_key"] for r in rebuilt["results"]}
        assert client.get("/api/health").json()["index"]["generation"] == rebuilt["generation"]
        statuses = {
            e["key"]: e["status"] for e in client.get("/api/episodes", params={"limit": 500}).json()["episodes"]
        }
        assert statuses[key] == "indexed"
    finally:
        svc.stop()


def test_an_index_of_an_older_format_is_a_503_until_the_writer_rebuilds_it(archive_copy: DataPaths) -> None:
    manifest = archive_copy.search_dir / MANIFEST
    manifest.write_text(json.dumps(json.loads(manifest.read_text()) | {"format": 1}))  # before passages
    svc = start_service(archive_copy)
    try:
        client = svc.client()
        old = client.get("/api/search", params={"q": "sourdough"})
        assert old.status_code == 503 and "format 1, not 2" in old.json()["error"]
        assert sync_index(archive_copy, BUNDLED_MODEL).status == "rebuilt"  # what the search_index asset runs
        new = client.get("/api/search", params={"q": "sourdough"})
        assert new.status_code == 200
        segments = [r for r in new.json()["results"] if r["result_type"] == "segment"]
        assert segments and segments[0]["passage_index"] == 0  # short phrases: one passage each
    finally:
        svc.stop()


def test_the_runtime_file_announces_a_live_service_only(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cast_pipeline.serve import runtime

    assert runtime.service_url(tmp_path) is None
    runtime.announce(tmp_path, "http://127.0.0.1:1234")
    assert runtime.service_url(tmp_path) == "http://127.0.0.1:1234"
    assert runtime.service_url(tmp_path, "http://elsewhere:9/") == "http://elsewhere:9"
    data = json.loads(runtime.runtime_path(tmp_path).read_text())
    runtime.runtime_path(tmp_path).write_text(json.dumps(data | {"pid": 2**22 + 12345}))  # no such process
    assert runtime.service_url(tmp_path) is None
    runtime.announce(tmp_path, "http://127.0.0.1:1234")
    runtime.withdraw(tmp_path)
    assert not runtime.runtime_path(tmp_path).exists()
