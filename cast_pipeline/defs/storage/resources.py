"""The resource every asset uses to find settings and storage.

Why a resource instead of reading the environment in each asset: runs launched from the UI can
override the data directory per run (launchpad config), tests point it at a temp dir, and every
code location resolves the same ``CAST_DATA_DIR`` the same way.
"""

from __future__ import annotations

import dagster as dg

from cast_pipeline.paths import DataPaths
from cast_pipeline.settings import Settings, load_settings


class CastResource(dg.ConfigurableResource):
    """Settings and storage paths for cast-pipeline (defaults come from the CAST_* environment)."""

    data_dir: str | None = None

    def settings(self) -> Settings:
        overrides = {"data_dir": self.data_dir} if self.data_dir else {}
        return load_settings(**overrides)

    def paths(self) -> DataPaths:
        return DataPaths(self.settings().data_dir)
