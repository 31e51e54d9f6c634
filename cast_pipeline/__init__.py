"""cast-pipeline: podcast feeds to searchable transcripts, transcript-first, on Dagster."""

__version__ = "0.1.0"
