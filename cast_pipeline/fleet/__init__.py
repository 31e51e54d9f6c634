"""The transcription fleet: speech steps run by Celery workers on any number of machines (opt-in).

``settings`` (plain Python: queues, environment, the Celery configuration both sides use), ``app``
(the Celery app a ``cast-pipeline worker`` serves), ``executor`` (the Dagster executor of the
``fleet`` code location, which submits speech steps to the queues and watches the workers).
Nothing here is imported by the laptop default (``cast_pipeline.definitions``), which needs no Redis.
"""
