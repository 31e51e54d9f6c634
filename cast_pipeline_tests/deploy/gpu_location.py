"""The ``transcribe_gpu`` location as cast_pipeline.locations.gpu defines it, its sensor ticking faster.

Served by `dagster api grpc -m cast_pipeline_tests.deploy.gpu_location` in test_recovery.py: the same
assets, job and resources; only ``audio_ready_gpu``'s minimum interval comes from
CAST_TEST_SENSOR_INTERVAL (10 s in the suite; bench/bench_recovery.py sets the production 60 s), so
the test does not wait a minute for a tick where the sensor asks again for lost work.
"""

import os

import dagster as dg

from cast_pipeline.defs.speech.automation import build_audio_ready_sensor
from cast_pipeline.defs.speech.keys import GPU
from cast_pipeline.locations import gpu

INTERVAL = int(os.environ.get("CAST_TEST_SENSOR_INTERVAL", "10"))

defs = dg.Definitions(
    assets=gpu.defs.assets,
    jobs=gpu.defs.jobs,
    sensors=[build_audio_ready_sensor(GPU, dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=INTERVAL)],
    resources=gpu.defs.resources,
)
