"""Code locations for production, each served by `dagster api grpc -m cast_pipeline.locations.<name>`.

- ``core`` (location ``core``): feeds, episodes, publisher transcripts, audio, transcripts, the
  ``new_episodes`` and ``transcript_sources`` sensors. No speech model is loaded here.
- ``gpu`` (location ``transcribe_gpu``): ``gpu/speech_transcript`` on an NVIDIA GPU.
- ``mac`` (location ``transcribe_mac``): ``mac/speech_transcript`` with mlx-whisper on Apple Silicon.
- ``fleet`` (location ``fleet``, instead of the two above): ``gpu/``, ``mac/`` and ``cpu/speech_transcript``
  run by ``cast-pipeline worker`` processes on any number of machines, through Celery queues on Redis.

An asset key can be materialised in only one code location, so each transcription location has its
own speech asset key; ``transcript`` in core depends on both by key, which is how the UI draws the
lineage across locations (deploy/workspace.yaml lists the three). ``cast_pipeline.definitions``
keeps everything in one location for a single machine.
"""

from cast_pipeline.code_server import keep_orphan_check_alive

# Inside `dagster api grpc`: a run worker that died during a PostgreSQL outage must still be failed.
keep_orphan_check_alive()
