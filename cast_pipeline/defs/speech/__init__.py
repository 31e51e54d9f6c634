"""Audio and speech: the `audio` asset (core) and the per-location `speech_transcript` assets.

Layout: ``episode_audio`` (plain Python: the audio file of an episode and its record),
``resources`` (the :class:`SpeechModel` resource), ``audio_step`` / ``speech_step`` (one batch's
work per episode), ``assets`` (``audio`` and the ``build_speech_asset`` factory), ``overlap`` (the
single machine's one step for both, so downloads overlap the model), ``automation`` (the sensors and
jobs that carry an episode from audio to speech to transcript across code locations). Nothing heavy
is imported here, so the transcripts assets can import the key helpers without a cycle.
"""
