"""`cast-pipeline run` in batches where the next batch's audio downloads while this batch's model works.

Why (issue 8): within one run, ``audio`` and ``local/speech_transcript`` are one step on a single
machine (cast_pipeline.defs.speech.overlap), so the next episodes download while one is transcribed;
but the batch's first download still finds the model idle. Across batches that wait is hidden too:
see :class:`AudioAhead`. (In the split deployment audio and speech are runs of different code locations.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import dagster as dg

from cast_pipeline.defs.speech.keys import AUDIO_KEY
from cast_pipeline.defs.speech.prefetch import AudioPrefetch
from cast_pipeline.feeds.discovery import contiguous_ranges
from cast_pipeline.http import make_client
from cast_pipeline.paths import DataPaths
from cast_pipeline.settings import Settings
from cast_pipeline.speech.audio import audio_user_agent
from cast_pipeline.transcripts.providers import speech_not_needed

if TYPE_CHECKING:
    from cast_pipeline.cli.run import RunSummary

# _run_batch of cast_pipeline.cli.run: (job, instance, keys, run_config, summary, selection) -> interrupted
RunBatch = Callable[..., bool]


class AudioAhead:
    """Runs batches so the next batch's audio downloads while this batch's speech model works (issue 8).

    Each batch is two runs: its lookups (the assets ``audio`` depends on: episode metadata and the
    ready-made transcript providers), then the rest (audio, speech, transcript, ...). The lookups of
    batch k+1 run before the rest of batch k, so when batch k's model starts, it is already known which
    episodes of batch k+1 need audio, and an :class:`AudioPrefetch` downloads those in the background.
    Batch k+1's ``audio`` step then finds complete downloads and records them (``reused``). Only
    episodes without a ready-made transcript are ever fetched: transcript-first holds.
    """

    def __init__(
        self,
        job: dg.JobDefinition,
        instance: dg.DagsterInstance,
        run_config: dict,
        summary: RunSummary,
        settings: Settings,
        run_batch: RunBatch,
    ) -> None:
        executable = set(job.asset_layer.executable_asset_keys)
        graph = job.asset_layer.asset_graph
        self.lookups = sorted(
            dg.AssetSelection.assets(AUDIO_KEY).upstream(include_self=False).resolve(graph) & executable
            if AUDIO_KEY in executable
            else set()
        )
        self.rest = sorted(executable - set(self.lookups))
        self.job, self.instance, self.run_config, self.summary = job, instance, run_config, summary
        self._run_batch = run_batch
        self.paths = DataPaths(settings.data_dir)
        self.settings = settings
        self.client = make_client(settings, user_agent=audio_user_agent(settings))
        self.looked_up: set[str] = set()
        self.prefetch: AudioPrefetch | None = None

    def _lookups(self, batch: list[str]) -> bool:
        self.looked_up.update(batch)
        return self._run_batch(self.job, self.instance, batch, self.run_config, self.summary, self.lookups)

    def run(self, batch: list[str], following: list[str] | None) -> bool:
        if not self.lookups:
            return self._run_batch(self.job, self.instance, batch, self.run_config, self.summary)
        if batch[0] not in self.looked_up and self._lookups(batch):
            return True
        if following and self._lookups(following):
            return True
        self.prefetch = None
        if following:
            ahead = [k for k in following if k not in self.summary.failures]
            self.prefetch = AudioPrefetch(
                self.paths, ahead, self.settings, self.client, wanted=self._needs_audio, workers=2
            )
        rest = [k for k in batch if k not in self.summary.failures]  # a failed lookup was reported already
        for sub in contiguous_ranges(batch, set(rest), len(batch)):
            if self._run_batch(self.job, self.instance, sub, self.run_config, self.summary, self.rest):
                return True
        if self.prefetch is not None:
            self.prefetch.wait()  # its downloads are batch k+1's; their errors are reported by its audio step
        return False

    def _needs_audio(self, key: str) -> bool:
        try:
            return speech_not_needed(self.paths, key, asked=True) is None
        except Exception:  # no lookup record, unreadable episode: leave it to the audio step to report
            return False

    def stop(self) -> None:
        if self.prefetch is not None:
            self.prefetch.stop()
        self.client.close()
