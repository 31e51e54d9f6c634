"""Ready-made transcript providers, asked in priority order before any audio is downloaded.

Adding a provider is one module in this package defining ``PROVIDER`` (a
:class:`~cast_pipeline.transcripts.providers.base.TranscriptProvider`); :func:`providers` finds it.
Order today: publisher (``<podcast:transcript>``) > Pocket Casts; speech comes after all of them
(:func:`cast_pipeline.transcripts.store.choose_source`).

Nothing is lost: each provider writes its own record file, and a found transcript is never replaced
by a later answer that is not found (a 429 or a link that went away keeps the transcript we have).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, replace
from functools import cache

from cast_pipeline.feeds.model import Episode
from cast_pipeline.paths import DataPaths
from cast_pipeline.transcripts.providers.base import ProviderContext, ProviderResult, TranscriptProvider

__all__ = [
    "ChainResult",
    "ProviderContext",
    "ProviderResult",
    "find_ready_made",
    "providers",
    "ready_made",
    "speech_not_needed",
]


@cache
def providers() -> tuple[TranscriptProvider, ...]:
    """Every provider module's ``PROVIDER``, best (lowest priority number) first."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name == "base" or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        provider = getattr(module, "PROVIDER", None)
        if isinstance(provider, TranscriptProvider):
            found.append(provider)
    return tuple(sorted(found, key=lambda p: (p.priority, p.name)))


@dataclass(frozen=True)
class ChainResult:
    results: list[ProviderResult]  # one per provider asked, in priority order

    @property
    def found(self) -> ProviderResult | None:
        return next((r for r in self.results if r.status == "found"), None)

    @property
    def reasons(self) -> list[str]:
        return [f"{r.provider}: {reason}" for r in self.results for reason in r.reasons]


def find_ready_made(episode: Episode, ctx: ProviderContext) -> ChainResult:
    """Ask the providers in order until one has a transcript; record each answer (see module docstring)."""
    results: list[ProviderResult] = []
    for provider in providers():
        try:
            result = provider.fetch(episode, ctx)
        except Exception as exc:  # a provider bug must not cost the episode its other sources
            reason = f"episode {episode.title!r}: {provider.name} failed unexpectedly ({type(exc).__name__}: {exc})"
            result = ProviderResult(provider.name, "error", reasons=[reason])
        previous = provider.load(ctx.paths, episode.key) if result.status != "found" else None
        if previous is not None and previous.status == "found":
            kept = f"kept the transcript found earlier ({previous.source}); this time: {result.status}"
            result = replace(previous, reasons=[kept, *result.reasons])
        else:
            provider.save(ctx.paths, episode.key, result)
        results.append(result)
        if result.status == "found":
            break
    return ChainResult(results)


def ready_made(paths: DataPaths, episode_key: str, *, asked: bool = False) -> ProviderResult | None:
    """The best stored ready-made transcript of the episode (by provider priority), None when none.

    With ``asked``, an episode no provider was ever asked about raises FileNotFoundError saying what to
    run, so audio is never downloaded just because the lookup has not happened yet.
    """
    records = [(p, p.load(paths, episode_key)) for p in providers()]
    for _, result in records:
        if result is not None and result.status == "found" and result.segments:
            return result
    if asked and all(result is None for _, result in records):
        raise FileNotFoundError(
            f"episode {episode_key} has no ready-made transcript record yet; materialise its "
            "`publisher_transcript` first"
        )
    return None


def speech_not_needed(paths: DataPaths, episode_key: str, *, asked: bool = False) -> str | None:
    """Why the episode needs no speech (a ready-made transcript, or one still awaited); None when it does.

    One answer for the speech and speakers assets, so they never disagree about an episode.
    """
    from cast_pipeline.transcripts.awaiting import awaiting_reason

    found = ready_made(paths, episode_key, asked=asked)
    if found is not None:
        return f"{found.provider} transcript found ({found.source})"
    waiting = awaiting_reason(paths, episode_key)
    return f"awaiting a ready-made transcript: {waiting}" if waiting else None
