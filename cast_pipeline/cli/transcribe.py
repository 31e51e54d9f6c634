"""`cast-pipeline transcribe FILE...`: transcribe local audio files, outside any feed.

The same code path as the speech asset: the same :class:`SpeechModel` resource (CAST_SPEECH_* settings,
options on top) loads one model for all files, :func:`cast_pipeline.speech.transcribe_files` decoding
the next file while the model works, then :func:`cast_pipeline.transcripts.merge.merge_phrases` and
:func:`cast_pipeline.transcripts.render.render`, so a file transcribed here reads like an episode's
transcript. A file that fails is reported and the others are still done; the exit code is then 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cast_pipeline.paths import write_text_atomic
from cast_pipeline.transcripts.render import RENDER_FORMATS

console = Console(stderr=True)


def transcribe(
    files: list[Path] = typer.Argument(..., help="Audio files (any format FFmpeg reads: mp3, m4a, ogg, wav...)."),
    backend: str | None = typer.Option(
        None, help="faster-whisper, parakeet or mlx-whisper (default: CAST_SPEECH_BACKEND)."
    ),
    model: str | None = typer.Option(None, help="Model name or local path (default: CAST_SPEECH_MODEL)."),
    language: str | None = typer.Option(
        None, help="Spoken language, e.g. en (default: CAST_SPEECH_LANGUAGE, else detected)."
    ),
    fmt: str = typer.Option("md", "--format", "-f", help="Output format: " + ", ".join(RENDER_FORMATS)),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Write <out>/<file stem>.<format>; without it, one file prints to stdout."
    ),
) -> None:
    """Transcribe local audio files with the speech model (loaded once for all files)."""
    from cast_pipeline.defs.speech.resources import SpeechModel
    from cast_pipeline.settings import load_settings
    from cast_pipeline.speakers import diarizer_from_settings
    from cast_pipeline.speakers.align import assign_speakers
    from cast_pipeline.speech import Progress as SpeechProgress
    from cast_pipeline.speech import SpeechError, SpeechResult, transcribe_files
    from cast_pipeline.transcripts.merge import merge_phrases
    from cast_pipeline.transcripts.render import render

    fmt = fmt.lower()
    if fmt not in RENDER_FORMATS:
        console.print(f"unknown format {fmt!r}; choose one of {', '.join(RENDER_FORMATS)}")
        raise typer.Exit(2)
    if out is None and len(files) > 1:
        console.print("several files need --out DIR (stdout takes only one transcript)")
        raise typer.Exit(2)
    stems = [f.stem for f in files]
    if out is not None and len(set(stems)) < len(stems):
        twice = sorted({s for s in stems if stems.count(s) > 1})
        console.print(f"several files would write the same output name: {', '.join(twice)}; transcribe them separately")
        raise typer.Exit(2)
    speech = SpeechModel(backend=backend, model=model, language=language)  # the speech asset's resource
    try:
        transcriber = speech.transcriber()
    except SpeechError as exc:
        console.print(
            f"[red]cannot load the speech model {speech.describe()}[/red]: {escape(str(exc))}", soft_wrap=True
        )
        raise typer.Exit(1) from None
    diarizer = diarizer_from_settings(load_settings())  # who spoke when, like the speakers asset; CAST_DIARIZATION=off
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    failures: dict[Path, str] = {}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("transcribing", total=len(files))

        def on_progress(p: SpeechProgress) -> None:
            if not p.finished:
                progress.update(task, description=f"{escape(p.path.name)} {p.seconds_done:.0f} s")

        outcomes = transcribe_files(files, transcriber, language=speech.language_for(None), on_progress=on_progress)
        for path, outcome in outcomes:
            if isinstance(outcome, SpeechResult):
                raw = outcome.segments
                if diarizer is not None and raw:
                    try:
                        raw = assign_speakers(raw, diarizer.diarize(path, raw).turns)
                    except Exception as exc:  # the words are still worth writing, without speakers
                        progress.console.print(
                            f"[yellow]{escape(str(path))}: no speakers[/yellow] ({escape(str(exc))})", soft_wrap=True
                        )
                segments = merge_phrases(raw)
                header = {
                    "title": path.stem,
                    "feed_title": "",
                    "published": None,
                    "source": f"{outcome.backend}:{outcome.model}",
                    "model": outcome.model,
                    "language": outcome.language,
                    "audio_file": str(path),
                    "duration": round(outcome.duration, 3),
                }
                text = render(fmt, segments, **header)
                if out is None:
                    sys.stdout.write(text)
                else:
                    write_text_atomic(out / f"{path.stem}.{fmt}", text)
                progress.console.print(
                    f"{escape(str(path))}: {outcome.duration:.0f} s of audio in {outcome.processing_seconds:.1f} s "
                    f"({outcome.realtime_factor:.1f}x realtime), {len(segments)} phrases",
                    soft_wrap=True,
                )
            else:
                failures[path] = str(outcome)
                progress.console.print(
                    f"[red]{escape(str(path))}: failed[/red]: {escape(str(outcome))}", soft_wrap=True
                )
            progress.update(task, advance=1)
        progress.update(task, description="transcribed")
    if failures:
        console.print(f"[red]{len(failures)} of {len(files)} files failed[/red]:")
        for path, reason in failures.items():
            console.print(f"  {path}: {reason}", soft_wrap=True, markup=False)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Called by cast_pipeline.cli.main: adds the ``transcribe`` command."""
    app.command("transcribe")(transcribe)
