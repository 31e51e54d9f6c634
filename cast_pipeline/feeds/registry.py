"""The feeds file (``CAST_FEEDS_FILE``, YAML): which feeds are registered on every run.

Accepted shapes::

    - https://feeds.example.org/show.rss          # a plain list, or
    feeds:
      - demo/feeds/show.xml                        # a path, relative to this file
      - url: https://example.com/other.rss
        language: de                               # optional hint (e.g. for speech models)
        speakers: [Alice, Bob]                     # optional host names for diarized transcripts,
        name_speakers: true                        # used only with this flag (or CAST_NAME_SPEAKERS)
        pocketcasts: false                         # optional: never ask Pocket Casts for this feed
        await_transcript_days: 0                   # optional: override CAST_AWAIT_TRANSCRIPT_DAYS

Why edits are done on the text: the file is written by people and carries comments. Adding or
removing a feed inserts or deletes only that entry's lines (located with YAML node positions); the
result is re-read to confirm it means exactly what was intended, and only if it does not (an
unusual layout such as flow style) is the file rewritten cleanly, without comments. Every write is
atomic, and every error names the file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import yaml

from cast_pipeline.keys import InvalidKeyError, normalize_feed_url
from cast_pipeline.paths import write_text_atomic

_HOST = re.compile(r"^(localhost|[a-z0-9-]+(\.[a-z0-9-]+)+)(:\d+)?$", re.IGNORECASE)
_FILE_SUFFIXES = {"xml", "rss", "atom", "yaml", "yml", "json"}
_ENTRY_KEYS = {"url", "language", "speakers", "name_speakers", "pocketcasts", "await_transcript_days"}
_YES, _NO = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}


class FeedsFileError(ValueError):
    """The feeds file cannot be read; the message names the file, the line and what is expected."""


@dataclass(frozen=True)
class FeedEntry:
    url: str  # resolved: http(s) or file:// URL
    language: str | None = None
    line: int = 0  # 1-based line in the feeds file
    speakers: tuple[str, ...] = ()  # host names, given to the most talkative speakers when asked
    name_speakers: bool = False
    pocketcasts: bool | None = None  # None: follow CAST_POCKETCASTS
    await_transcript_days: float | None = None  # None: follow CAST_AWAIT_TRANSCRIPT_DAYS


def _looks_like_host(text: str) -> bool:
    first = text.split("/", 1)[0]
    return bool(_HOST.match(first)) and first.rsplit(".", 1)[-1].lower() not in _FILE_SUFFIXES


def normalize_feed_input(text: str, base_dir: Path | None = None) -> str:
    """A feed URL from user input: ``http(s)://`` and ``file://`` URLs, ``feed://`` links, bare
    ``host/path`` (https assumed), and file paths (relative to ``base_dir``, else the current folder).
    """
    raw = text.strip()
    if not raw:
        raise ValueError("empty feed URL; give an http(s):// URL, a host/path or a file path")
    if raw.lower().startswith("feed://"):  # "subscribe" links: feed://host/x and feed:https://host/x
        raw = "https://" + raw[7:]
    elif raw.lower().startswith("feed:"):
        raw = raw[5:]
    scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
    if scheme in ("http", "https", "file"):
        return raw
    if scheme:
        raise ValueError(f"unsupported URL scheme {scheme!r} in {text!r}; use http(s)://, file:// or a path")
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = (base_dir or Path.cwd()) / path
    if _looks_like_host(raw) and not path.exists():
        return "https://" + raw
    return path.resolve().as_uri()


def _fail(path: Path, node: yaml.Node | None, problem: str) -> FeedsFileError:
    where = f", line {node.start_mark.line + 1}" if node is not None else ""
    return FeedsFileError(f"{path}{where}: {problem}; expected a list of feed URLs (see the file's header)")


def _compose(path: Path, text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise FeedsFileError(f"{path}{where}: not valid YAML ({problem}); fix the file") from None


def _items(path: Path, root: yaml.Node | None) -> yaml.SequenceNode | None:
    """The sequence node holding the feed entries (``None`` for an empty file)."""
    if root is None or (isinstance(root, yaml.ScalarNode) and root.value in ("", "~", "null")):
        return None
    if isinstance(root, yaml.MappingNode):
        sequence: yaml.Node | None = None
        for key, value in root.value:
            if key.value != "feeds":
                raise _fail(path, key, f"unknown key {key.value!r} (the only key is 'feeds')")
            sequence = value
        if sequence is None or (isinstance(sequence, yaml.ScalarNode) and sequence.value in ("", "~", "null")):
            return None
        root = sequence
    if not isinstance(root, yaml.SequenceNode):
        raise _fail(path, root, "this is not a list")
    return root


def _entry(path: Path, node: yaml.Node) -> FeedEntry:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode) and node.value.strip():
        return FeedEntry(normalize_feed_input(node.value, path.parent), None, line)
    if isinstance(node, yaml.MappingNode):
        fields = {k.value: v for k, v in node.value}
        unknown = set(fields) - _ENTRY_KEYS
        if unknown:
            allowed = ", ".join(sorted(_ENTRY_KEYS))
            raise _fail(path, node, f"unknown key(s) {sorted(unknown)} in a feed entry (allowed: {allowed})")
        url, language = fields.get("url"), fields.get("language")
        if not isinstance(url, yaml.ScalarNode) or not url.value.strip():
            raise _fail(path, node, "a feed entry without a 'url'")
        lang = language.value.strip() if isinstance(language, yaml.ScalarNode) and language.value.strip() else None
        speakers = _speaker_names(path, fields.get("speakers"))
        name_speakers = bool(_flag(path, fields.get("name_speakers"), "name_speakers"))
        pocketcasts = _flag(path, fields.get("pocketcasts"), "pocketcasts")
        days = _days(path, fields.get("await_transcript_days"))
        return FeedEntry(
            normalize_feed_input(url.value, path.parent),
            lang,
            line,
            speakers=speakers,
            name_speakers=name_speakers,
            pocketcasts=pocketcasts,
            await_transcript_days=days,
        )
    raise _fail(path, node, "a feed entry must be a URL, a path or {url: ..., language: ...}")


def _speaker_names(path: Path, node: yaml.Node | None) -> tuple[str, ...]:
    if node is None:
        return ()
    if not isinstance(node, yaml.SequenceNode) or not all(
        isinstance(n, yaml.ScalarNode) and n.value.strip() for n in node.value
    ):
        raise _fail(path, node, "'speakers' must be a list of names, e.g. speakers: [Alice, Bob]")
    return tuple(n.value.strip() for n in node.value)


def _days(path: Path, node: yaml.Node | None) -> float | None:
    if node is None:
        return None
    try:
        days = float(node.value) if isinstance(node, yaml.ScalarNode) else -1.0
    except ValueError:
        days = -1.0
    if days < 0:
        raise _fail(path, node, "'await_transcript_days' must be a number of days, 0 or more")
    return days


def _flag(path: Path, node: yaml.Node | None, name: str) -> bool | None:
    if node is None:
        return None
    value = node.value.strip().lower() if isinstance(node, yaml.ScalarNode) else ""
    if value in _YES or value in _NO:
        return value in _YES
    raise _fail(path, node, f"'{name}' must be true or false")


def read_feed_entries(path: Path) -> list[FeedEntry]:
    """Every entry of the feeds file, resolved, duplicates dropped; a missing file has none."""
    if not path.exists():
        return []
    sequence = _items(path, _compose(path, path.read_text(encoding="utf-8")))
    entries: list[FeedEntry] = []
    seen: set[str] = set()
    for node in sequence.value if sequence else ():
        try:
            entry = _entry(path, node)
        except ValueError as exc:
            raise exc if isinstance(exc, FeedsFileError) else _fail(path, node, str(exc)) from None
        if entry.url not in seen:
            seen.add(entry.url)
            entries.append(entry)
    return entries


def feed_entry(path: Path, feed_url: str) -> FeedEntry | None:
    """The feeds-file entry of ``feed_url`` (its per-feed options), None when it is not listed there."""
    return next((e for e in read_feed_entries(path) if _same_feed(e.url, feed_url)), None)


def read_feeds_file(path: Path) -> list[str]:
    """The registered feed URLs, in file order."""
    return [e.url for e in read_feed_entries(path)]


def _same_feed(a: str, b: str) -> bool:
    try:
        return normalize_feed_url(a) == normalize_feed_url(b)
    except InvalidKeyError:
        return a == b


def _yaml_scalar(text: str) -> str:
    return yaml.safe_dump([text], default_flow_style=False, allow_unicode=True, width=10_000)[2:].rstrip("\n")


def _lines_of(node: yaml.Node) -> tuple[int, int]:
    """First and one-past-last line of a block sequence item (its ``-`` line included).

    A block mapping's own end mark sits on the next token (the next item's ``-``), so the end is
    taken from its innermost last value instead.
    """
    last = node
    while isinstance(last, yaml.MappingNode | yaml.SequenceNode) and last.value and not last.flow_style:
        last = last.value[-1][1] if isinstance(last, yaml.MappingNode) else last.value[-1]
    end = last.end_mark
    return node.start_mark.line, end.line if end.column == 0 else end.line + 1


def _as_written(path: Path, url: str) -> str:
    """A file URL inside the feeds file's folder is written as a relative path (portable checkouts)."""
    if url.startswith("file://"):
        local, folder = Path(url2pathname(unquote(urlsplit(url).path))), path.parent.resolve()
        if local.is_relative_to(folder):
            return local.relative_to(folder).as_posix()
    return url


def _rewrite(path: Path, urls: list[str]) -> None:
    write_text_atomic(path, yaml.safe_dump({"feeds": urls}, default_flow_style=False, allow_unicode=True))


def _commit(path: Path, new_text: str, expected: list[str]) -> None:
    """Write the edited text if it reads back as ``expected``; otherwise rewrite the file cleanly."""
    try:
        sequence = _items(path, _compose(path, new_text))
        got = [_entry(path, n).url for n in (sequence.value if sequence else ())]
    except ValueError:
        got = None
    if got is not None and got == expected:
        write_text_atomic(path, new_text)
    else:
        _rewrite(path, [_as_written(path, u) for u in expected])


def add_to_feeds_file(path: Path, url: str) -> bool:
    """Register ``url`` (False when it already is); creates the file when missing."""
    target = normalize_feed_input(url, Path.cwd())
    if not path.exists():
        write_text_atomic(path, f"feeds:\n  - {_yaml_scalar(_as_written(path, target))}\n")
        return True
    current = read_feeds_file(path)
    if any(_same_feed(u, target) for u in current):
        return False
    text = path.read_text(encoding="utf-8")
    root = _compose(path, text)
    sequence = _items(path, root)
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    scalar = _yaml_scalar(_as_written(path, target))
    if root is None:  # empty, or only comments: keep them, append
        new_text = "".join(lines) + f"feeds:\n  - {scalar}\n"
    elif sequence is None or sequence.flow_style or not sequence.value:
        new_text = ""  # `feeds:` with no list, or a flow list: _commit rewrites the file cleanly
    else:
        indent = " " * sequence.start_mark.column
        at = _lines_of(sequence.value[-1])[1]
        new_text = "".join([*lines[:at], f"{indent}- {scalar}\n", *lines[at:]])
    _commit(path, new_text, [*current, target])
    return True


def remove_from_feeds_file(path: Path, url: str) -> bool:
    """Unregister ``url`` (False when it was not registered)."""
    target = normalize_feed_input(url, path.parent)
    current = read_feeds_file(path)  # validates every entry first
    if not any(_same_feed(u, target) for u in current):
        return False
    text = path.read_text(encoding="utf-8")
    sequence = _items(path, _compose(path, text))
    doomed = [n for n in (sequence.value if sequence else ()) if _same_feed(_entry(path, n).url, target)]
    lines = text.splitlines(keepends=True)
    if sequence is not None and not sequence.flow_style:
        for node in sorted(doomed, key=lambda n: n.start_mark.line, reverse=True):
            first, last = _lines_of(node)
            del lines[first:last]
    expected = [u for u in current if not _same_feed(u, target)]
    _commit(path, "".join(lines), expected)
    return True
