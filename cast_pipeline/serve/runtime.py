"""Finding a running ``cast-pipeline serve`` from the CLI: a small runtime file in the data directory.

Why a file and not a fixed port: several data directories can be served at once on any port, and the
CLI must use the service of *its* data directory (same results as searching locally). The service
writes ``<data dir>/.serve.json`` (URL and process id) when it starts and removes it when it stops; a
file left by a killed service is ignored because its process is gone. ``CAST_SERVICE_URL`` overrides
the file (e.g. a service on another machine; send ``CAST_API_TOKEN`` along).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from cast_pipeline.paths import write_text_atomic

RUNTIME_FILE = ".serve.json"


def runtime_path(data_dir: Path) -> Path:
    return data_dir / RUNTIME_FILE


def announce(data_dir: Path, url: str) -> Path:
    """Record that this process serves ``data_dir`` at ``url``."""
    path = runtime_path(data_dir)
    write_text_atomic(path, json.dumps({"url": url, "pid": os.getpid()}) + "\n")
    return path


def withdraw(data_dir: Path) -> None:
    """Remove the runtime file if it is still ours."""
    path = runtime_path(data_dir)
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def service_url(data_dir: Path, configured: str = "") -> str | None:
    """URL of the service to ask: the configured one, else a live service of ``data_dir``, else None."""
    if configured.strip():
        return configured.strip().rstrip("/")
    try:
        info = json.loads(runtime_path(data_dir).read_text(encoding="utf-8"))
        url, pid = str(info["url"]), int(info["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return url.rstrip("/") if _alive(pid) else None
