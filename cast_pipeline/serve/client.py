"""Asking a running ``cast-pipeline serve`` from the CLI (stdlib only: importing it costs nothing).

Why: the service keeps the index open and the query encoder loaded, so a search through it answers
in milliseconds where a cold process needs about a second. :func:`remote_search` raises
:class:`ServiceDown` when nothing answers (the caller searches locally instead) and
:class:`ServiceRefused` with the service's own message for a 4xx/5xx answer.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

TIMEOUT = 30.0


class ServiceDown(Exception):
    """Nothing usable answered at the service URL."""


class ServiceRefused(Exception):
    """The service answered with an error; ``status`` is its HTTP status, the message its reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def get_json(base_url: str, path: str, params: dict[str, Any], token: str = "") -> Any:
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    request = urllib.request.Request(f"{base_url}{path}?{query}", headers={"Accept": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error") or exc.reason
        except (ValueError, AttributeError):
            raise ServiceDown(f"{base_url} answered {exc.code} without a cast-pipeline error") from None
        raise ServiceRefused(exc.code, str(message)) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ServiceDown(f"no cast-pipeline service at {base_url} ({exc})") from None


def remote_search(base_url: str, token: str, **params: Any) -> list[dict[str, Any]]:
    """The result records of ``/api/search`` (same fields as :func:`cast_pipeline.cli.search.records`)."""
    return list(get_json(base_url, "/api/search", params, token)["results"])
