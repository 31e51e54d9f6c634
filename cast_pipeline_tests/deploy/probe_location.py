"""A stand-in code location for the deploy tests: one job that records which process tree ran it.

Served by `dagster api grpc -m cast_pipeline_tests.deploy.probe_location` in place of a real location
module, so the test checks where the instance's run launcher starts runs, independent of the
pipeline's own assets. Linux only (reads /proc).
"""

import json
import os
from pathlib import Path

import dagster as dg


def _ancestors() -> list[int]:
    """This process and its parents, from /proc (the run worker's process tree)."""
    pids = []
    pid = os.getpid()
    while pid > 1:
        pids.append(pid)
        stat = Path(f"/proc/{pid}/stat").read_text()
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return pids


@dg.op
def where_am_i(context: dg.OpExecutionContext) -> None:
    out = Path(os.environ["CAST_DATA_DIR"]) / "probe" / f"{context.run_id}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"ancestors": _ancestors()}))
    print(f"probe ran in pid {os.getpid()}")  # captured into the compute logs


@dg.job(executor_def=dg.in_process_executor)
def probe_job() -> None:
    where_am_i()


defs = dg.Definitions(jobs=[probe_job])
