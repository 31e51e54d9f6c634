"""The notebooks run top to bottom on the demo data, in a kernel of this virtualenv, and draw their plots."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

from cast_pipeline_tests.conftest import REPO_ROOT, DemoRun

NOTEBOOKS = REPO_ROOT / "notebooks"
KERNEL = "cast-pipeline-test"
PLOT_TAG = "plot"  # cells tagged "plot" must leave a PNG image


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


@pytest.mark.parametrize("name", ["search", "analysis"])
def test_notebooks_are_committed_valid_and_without_outputs(name: str) -> None:
    nb = _read(name)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
    assert "CAST_DATA_DIR" in code[0].source


def _kernel_manager(tmp_path: Path) -> AsyncKernelManager:
    """A kernel of *this* interpreter, whatever python3 kernelspecs the user or system have installed."""
    spec_dir = tmp_path / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "cast-pipeline test",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    specs = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])
    assert specs.get_kernel_spec(KERNEL).argv[0] == sys.executable
    return AsyncKernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)


@pytest.mark.slow
def test_both_notebooks_run_on_the_demo_and_draw_their_plots(
    demo_run: DemoRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, run = demo_run.project, demo_run.result  # `cast-pipeline run` of the demo (conftest)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "episodes searchable" in run.stderr
    for var in [v for v in os.environ if v.startswith("CAST_") or v == "DAGSTER_HOME"]:
        if var != "CAST_CACHE_DIR":  # the session's ONNX cache; the rest: defaults, ./data of the project
            monkeypatch.delenv(var)

    for name in ("search", "analysis"):
        nb = _read(name)
        client = NotebookClient(
            nb, km=_kernel_manager(tmp_path / name), timeout=300, resources={"metadata": {"path": str(project)}}
        )
        client.execute()  # raises CellExecutionError on the first failing cell
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(o.output_type != "error" for c in code for o in c.outputs)
        assert f"data directory: {project / 'data'}" in code[0].outputs[0].text
        plots = [c for c in code if PLOT_TAG in c.metadata.get("tags", [])]
        assert len(plots) == {"search": 0, "analysis": 5}[name]
        for cell in plots:
            assert any("image/png" in o.get("data", {}) for o in cell.outputs), cell.source[:80]
        if name == "search":
            text = "".join(
                json.dumps(o.get("data", {}), ensure_ascii=False) + o.get("text", "") for c in code for o in c.outputs
            )
            assert "→" in text and "#t=" in text  # the transcript around a hit, and its play link
