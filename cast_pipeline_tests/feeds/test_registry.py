"""The feeds file: reading every accepted shape, clear errors, and comment-preserving edits."""

from __future__ import annotations

from pathlib import Path

import pytest

from cast_pipeline.feeds.registry import (
    FeedEntry,
    FeedsFileError,
    add_to_feeds_file,
    normalize_feed_input,
    read_feed_entries,
    read_feeds_file,
    remove_from_feeds_file,
)

COMMENTED = """\
# Registered feeds (hand-edited; keep this comment)
feeds:
  - https://feeds.example.org/one.rss   # the first show
  - url: https://feeds.example.org/two.rss
    language: de
  # a comment between entries
  - demo/three.xml
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "conf" / "feeds.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_feeds_mapping_with_strings_paths_and_entries(tmp_path: Path) -> None:
    path = write(tmp_path, COMMENTED)
    assert read_feed_entries(path) == [
        FeedEntry("https://feeds.example.org/one.rss", None, 3),
        FeedEntry("https://feeds.example.org/two.rss", "de", 4),
        FeedEntry((path.parent / "demo" / "three.xml").as_uri(), None, 7),
    ]


def test_a_plain_list_bare_hosts_and_duplicates(tmp_path: Path) -> None:
    path = write(tmp_path, "- example.com/feed.xml\n- https://example.com/feed.xml\n- /srv/feeds/x.rss\n")
    assert read_feeds_file(path) == ["https://example.com/feed.xml", "file:///srv/feeds/x.rss"]


def test_relative_paths_resolve_against_the_file_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "feeds:\n  - ../shows/my show.xml\n")
    monkeypatch.chdir(tmp_path)
    assert read_feeds_file(path) == [(tmp_path / "shows" / "my show.xml").as_uri()]


def test_missing_and_empty_files_register_nothing(tmp_path: Path) -> None:
    assert read_feeds_file(tmp_path / "nope.yaml") == []
    assert read_feeds_file(write(tmp_path, "# nothing yet\n")) == []
    assert read_feeds_file(write(tmp_path, "feeds:\n")) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("feeds:\n  - a.xml\n  - [unclosed\n", r"line \d+: not valid YAML"),
        ("feeds:\n  - a.xml\nfeds:\n  - b.xml\n", r"line 3: unknown key 'feds'"),
        ("feeds:\n  - a.xml\n  - url: ''\n", r"line 3: a feed entry without a 'url'"),
        ("feeds:\n  - url: x.xml\n    lang: de\n", r"line 2: unknown key\(s\) \['lang'\]"),
        ("feeds:\n  - a.xml\n  - [x, y]\n", r"line 3: a feed entry must be a URL"),
        ("just some text\n", r"line 1: this is not a list"),
        ("feeds:\n  - ftp://example.com/x\n", r"line 2: unsupported URL scheme 'ftp'"),
    ],
)
def test_bad_files_name_the_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(FeedsFileError, match=message) as info:
        read_feeds_file(path)
    assert str(path) in str(info.value)


def test_adding_keeps_comments_layout_and_order(tmp_path: Path) -> None:
    path = write(tmp_path, COMMENTED)
    assert add_to_feeds_file(path, "https://feeds.example.org/four.rss")
    text = path.read_text()
    assert text == COMMENTED + "  - https://feeds.example.org/four.rss\n"
    assert read_feeds_file(path)[-1] == "https://feeds.example.org/four.rss"
    assert [p.name for p in path.parent.iterdir()] == ["feeds.yaml"]


def test_adding_after_a_multi_line_last_entry(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds:\n  - a.xml\n  - url: https://x.example/f\n    language: fr\n# trailing\n")
    add_to_feeds_file(path, "https://y.example/g")
    lines = path.read_text().splitlines()
    assert lines[4] == "  - https://y.example/g" and lines[-1] == "# trailing"


def test_adding_an_already_registered_feed_changes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, COMMENTED)
    assert not add_to_feeds_file(path, "HTTPS://Feeds.Example.org:443/one.rss")
    assert not add_to_feeds_file(path, str(path.parent / "demo" / "three.xml"))
    assert path.read_text() == COMMENTED


def test_adding_creates_the_file_and_writes_local_feeds_relative(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "feeds.yaml"
    path.parent.mkdir()
    assert add_to_feeds_file(path, str(tmp_path / "conf" / "shows" / "a b.xml"))
    assert path.read_text() == "feeds:\n  - shows/a b.xml\n"
    assert read_feeds_file(path) == [(tmp_path / "conf" / "shows" / "a b.xml").as_uri()]


def test_urls_that_need_quoting_stay_correct(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds:\n  - a.xml\n")
    odd = "https://example.com/feed?q=a: b #c"
    add_to_feeds_file(path, odd)
    assert read_feeds_file(path)[-1] == odd


def test_unusual_layouts_are_rewritten_cleanly(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds: [https://a.example/f, https://b.example/f]\n")
    add_to_feeds_file(path, "https://c.example/f")
    assert read_feeds_file(path) == ["https://a.example/f", "https://b.example/f", "https://c.example/f"]
    remove_from_feeds_file(path, "https://a.example/f")
    assert read_feeds_file(path) == ["https://b.example/f", "https://c.example/f"]


def test_adding_to_a_comment_only_file_keeps_the_comment(tmp_path: Path) -> None:
    path = write(tmp_path, "# my feeds")
    add_to_feeds_file(path, "https://a.example/f")
    assert path.read_text() == "# my feeds\nfeeds:\n  - https://a.example/f\n"


def test_removing_deletes_only_that_entrys_lines(tmp_path: Path) -> None:
    path = write(tmp_path, COMMENTED)
    assert remove_from_feeds_file(path, "https://feeds.example.org/two.rss")
    assert path.read_text() == COMMENTED.replace("  - url: https://feeds.example.org/two.rss\n    language: de\n", "")
    assert remove_from_feeds_file(path, (path.parent / "demo" / "three.xml").as_uri())
    assert read_feeds_file(path) == ["https://feeds.example.org/one.rss"]
    assert "# Registered feeds" in path.read_text() and "# the first show" in path.read_text()


def test_removing_an_unknown_feed_says_so(tmp_path: Path) -> None:
    path = write(tmp_path, COMMENTED)
    assert not remove_from_feeds_file(path, "https://elsewhere.example/x.rss")
    assert path.read_text() == COMMENTED


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://example.com/feed.xml", "https://example.com/feed.xml"),
        ("  http://example.com/f  ", "http://example.com/f"),
        ("example.com/feed.xml", "https://example.com/feed.xml"),
        ("feeds.example.co.uk", "https://feeds.example.co.uk"),
        ("localhost:8000/feed.xml", "https://localhost:8000/feed.xml"),
        ("feed://example.com/rss", "https://example.com/rss"),
        ("feed:https://example.com/rss", "https://example.com/rss"),
        ("file:///srv/x.xml", "file:///srv/x.xml"),
        ("/srv/feeds/x.xml", "file:///srv/feeds/x.xml"),
    ],
)
def test_normalize_feed_input(text: str, expected: str) -> None:
    assert normalize_feed_input(text) == expected


def test_normalize_feed_input_relative_paths(tmp_path: Path) -> None:
    assert normalize_feed_input("show.xml", tmp_path) == (tmp_path / "show.xml").as_uri()
    assert normalize_feed_input("demo/feeds/a.xml", tmp_path) == (tmp_path / "demo/feeds/a.xml").as_uri()
    (tmp_path / "example.com").mkdir()  # an existing local path wins over a host-like reading
    assert normalize_feed_input("example.com", tmp_path) == (tmp_path / "example.com").as_uri()


@pytest.mark.parametrize("text", ["", "   ", "ftp://example.com/x", "gopher://x"])
def test_normalize_feed_input_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"empty|unsupported URL scheme"):
        normalize_feed_input(text)


def test_a_feed_can_name_its_hosts_for_diarized_transcripts(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "feeds:\n  - url: https://a.example/x.rss\n    speakers: [Alice, Bob]\n    name_speakers: true\n"
        "  - url: https://a.example/y.rss\n    speakers:\n      - Carol\n",
    )
    entries = read_feed_entries(path)
    assert (entries[0].speakers, entries[0].name_speakers) == (("Alice", "Bob"), True)
    assert (entries[1].speakers, entries[1].name_speakers) == (("Carol",), False)
    bad = write(tmp_path, "feeds:\n  - url: https://a.example/x.rss\n    speakers: Alice\n")
    with pytest.raises(FeedsFileError, match=r"line 3: 'speakers' must be a list of names"):
        read_feed_entries(bad)
