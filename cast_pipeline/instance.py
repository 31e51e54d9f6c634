"""Find or create the Dagster instance the CLI and notebooks use.

Why: `cast-pipeline run` must work on a fresh clone with no setup, yet write to the same instance that
`dagster dev` shows afterwards. With DAGSTER_HOME unset we use ``./.dagster_home`` (created with the
project's default dagster.yaml); with it set we use it as is.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

DEFAULT_HOME = ".dagster_home"
_DEFAULT_YAML = Path(__file__).parent / "instance_files" / "dagster.yaml"


def ensure_dagster_home() -> Path:
    """Make sure DAGSTER_HOME points at an existing folder with a dagster.yaml; return it."""
    raw = os.environ.get("DAGSTER_HOME")
    home = Path(raw).expanduser().absolute() if raw else Path.cwd() / DEFAULT_HOME
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() and _DEFAULT_YAML.exists():
        shutil.copyfile(_DEFAULT_YAML, config)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def get_instance():
    """The DagsterInstance at DAGSTER_HOME (created on first use)."""
    import dagster as dg

    ensure_dagster_home()
    return dg.DagsterInstance.get()
