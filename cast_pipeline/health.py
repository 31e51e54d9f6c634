"""Findings of health checks: what is wrong, where, and the one command that fixes it.

Why one type: `cast-pipeline doctor` and the cheap checks inside `cast-pipeline run` gather findings from
the Dagster instance (stuck runs, held pool slots) and from the data folder (missing or corrupt episode
files, a broken search index). One shape lets every check report the same way, for people: the subject
names the episode (title) or the file, the fix is a command to run or what happens automatically.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["ok", "warning", "error"]


@dataclass(frozen=True)
class Finding:
    area: str  # "runs", "pool slots", "episodes", "search index", ...
    subject: str  # what it is about: a run id, an episode's title and key, a file path
    problem: str  # what is wrong, in a sentence
    fix: str  # what to do (a command), or what `run --repair` / `doctor --fix` does about it
    severity: Severity = "error"
    repaired: bool = False  # True when the check already fixed it

    def line(self) -> str:
        state = "fixed" if self.repaired else self.severity
        return f"[{state}] {self.area}: {self.subject}: {self.problem} -> {self.fix}"
