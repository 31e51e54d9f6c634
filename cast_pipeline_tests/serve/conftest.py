"""Fixtures of the service tests: a data directory as the pipeline leaves it (catalog, episode snapshots,
transcripts, embeddings, a real LanceDB index) and the service running on a free port with uvicorn."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from cast_pipeline.feeds.catalog import write_feed_catalog
from cast_pipeline.feeds.model import Episode, Feed
from cast_pipeline.feeds.snapshot import save_episode
from cast_pipeline.paths import DataPaths, write_text_atomic
from cast_pipeline.search import Embedder, update_index, write_episode_embeddings
from cast_pipeline.segments import segments_to_json
from cast_pipeline.serve.app import build_app
from cast_pipeline.serve.library import Library
from cast_pipeline.transcripts.store import TRANSCRIPT_JSON
from cast_pipeline_tests.search.conftest import embedded_episode
from cast_pipeline_tests.search.corpus import episodes_and_segments

SPEAKERS = ("Maya", "Tom")


def write_archive(paths: DataPaths, embedder: Embedder, audio_url: str | None = None) -> list[Episode]:
    """The search test corpus as the pipeline writes it; every episode has a transcript with speakers.

    One extra episode per feed has no transcript yet (status ``pending``). ``audio_url`` replaces every
    enclosure URL (the browser test serves real audio there).
    """
    by_feed: dict[str, list[Episode]] = {}
    keys = []
    for episode, segments in episodes_and_segments():
        if audio_url:
            episode = dataclasses.replace(episode, enclosure_url=audio_url)
        voiced = [dataclasses.replace(s, speaker=SPEAKERS[i % 2]) for i, s in enumerate(segments)]
        save_episode(paths, episode)
        meta = {"episode_key": episode.key, "title": episode.title, "feed_title": episode.feed_title,
                "published": episode.published.isoformat() if episode.published else None,
                "enclosure_url": episode.enclosure_url, "source": "publisher"}  # fmt: skip
        write_text_atomic(paths.episode_file(episode.key, TRANSCRIPT_JSON), segments_to_json(voiced, **meta))
        write_episode_embeddings(paths, episode.key, embedded_episode(episode.key, voiced, embedder))
        by_feed.setdefault(episode.feed_key, []).append(episode)
        keys.append(episode.key)
    for feed_key, episodes in by_feed.items():
        first = episodes[0]
        pending = dataclasses.replace(first, key=first.key + "-new", guid="new", title="Coming soon", published=None)
        feed = Feed(key=feed_key, url=first.feed_url, title=first.feed_title, language=first.language)
        write_feed_catalog(paths, feed, [*episodes, pending])
    update_index(paths, keys)
    return [e for eps in by_feed.values() for e in eps]


@dataclass
class Service:
    url: str
    library: Library
    server: uvicorn.Server
    thread: threading.Thread

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_service(paths: DataPaths, *, token: str = "", host: str = "127.0.0.1", dagster_url: str = "") -> Service:
    """The service app under uvicorn in a thread, on a free port of 127.0.0.1."""
    library = Library(paths, dagster_ui_url=dagster_url)
    app = build_app(library, token=token, host=host)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the service did not start")
        time.sleep(0.02)
    return Service(f"http://127.0.0.1:{port}", library, server, thread)


@pytest.fixture(scope="module")
def service(archive: DataPaths) -> Iterator[Service]:
    svc = start_service(archive, dagster_url="http://dagster.test:3000")
    try:
        yield svc
    finally:
        svc.stop()
