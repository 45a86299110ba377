"""The audit-demonstration notebooks in ``examples/``, executed against the embedded chain so
that they never rot.

Each notebook runs in a fresh Jupyter kernel on this interpreter, with matplotlib's Agg backend
and a temporary working folder; every cell must run without error, the plots must render
(PNG outputs), and the key results must be printed. The notebooks are stored without outputs.

Needs ``nbformat``, ``nbclient``, ``ipykernel`` and ``matplotlib`` (the test extra): without
them the tests are skipped with a message, and under ``CI=true`` they fail.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NEEDED = ("nbformat", "nbclient", "ipykernel", "matplotlib")
CELL_TIMEOUT = 120  # seconds per cell
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colours in tracebacks

# Per notebook: text its printed output must contain.
EXPECTED = {
    "auditor.ipynb": [
        "audit of the published log: pass",
        "audit of the edited copy: fail",
        "missing-entry",
        "history-mismatch",
        "lineage: pass",
    ],
    "patient_disclosure.ipynb": [
        "integrity        pass",
        "anchoring        pass",
        "none of the hidden values is in the bundle",
        "share opened and verified: pass",
        "lineage: pass",
    ],
}


def _require_tools() -> None:
    missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        message = (
            f"notebook tests need {', '.join(missing)} (pip install the test extra: "
            "nbformat, nbclient, ipykernel, matplotlib)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def _kernel_manager(kernels: Path, tmp: Path) -> Any:
    """A manager for a kernel named ``python3`` that runs on this very interpreter (so the
    kernel sees the same installed okeios), with the Agg backend and ``tmp`` as its
    temporary folder."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec = kernels / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (okeios tests)",
                "language": "python",
                "env": {
                    "MPLBACKEND": "Agg",
                    "TMPDIR": str(tmp),
                    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
                },
            }
        )
    )
    specs = KernelSpecManager(kernel_dirs=[str(kernels)])
    return KernelManager(kernel_name="python3", kernel_spec_manager=specs)


def _outputs(nb: Any) -> list[dict[str, Any]]:
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]


def _text(nb: Any) -> str:
    parts = []
    for out in _outputs(nb):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts.append(out.get("data", {}).get("text/plain", ""))
    return "".join(parts)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_is_stored_clean(name: str) -> None:
    """Notebooks are committed without outputs or execution counts."""
    raw = json.loads((EXAMPLES / name).read_text())
    assert raw["metadata"]["kernelspec"]["name"] == "python3"
    for cell in raw["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"{name}: a cell was stored with outputs"
            assert cell["execution_count"] is None, f"{name}: a cell was stored executed"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_runs(name: str, tmp_path: Path) -> None:
    _require_tools()
    import nbformat

    nb = nbformat.read(EXAMPLES / name, as_version=4)
    _execute(nb, name, tmp_path, EXPECTED[name])


def _inject_parameters(nb: Any, values: dict[str, object]) -> None:
    """What ``papermill -p NAME VALUE`` does: a cell tagged ``injected-parameters`` right
    after the cell tagged ``parameters``, assigning the values."""
    import nbformat

    [position] = [
        i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])
    ]
    source = "\n".join(f"{k} = {v!r}" for k, v in values.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    nb.cells.insert(position + 1, cell)


def test_the_auditor_notebook_on_a_published_log(tmp_path: Path) -> None:
    """The auditor notebook pointed at a log it did not build: a publisher's store anchored on
    a persisted embedded chain, its log file, and the three values the auditor trusts."""
    _require_tools()
    import nbformat

    from okeios._internal.chain.connect import open_chain
    from okeios._internal.chain.registry import Registry
    from okeios._internal.cli.demo import synthetic_records
    from okeios._internal.protocol.signing import LocalSigner
    from okeios._internal.publish.anchoring import anchor
    from okeios._internal.publish.store import Store

    published = tmp_path / "published"
    with Store.init(published / "clinic", log_name="clinic") as store:
        with open_chain("embedded", published) as chain:
            chain.fund(store.address, 10**20)
            registry = Registry.deploy(chain.w3, store.signer, label=chain.label)
            records = synthetic_records(12, seed=4)
            logged = store.add(records)
            anchor(store, registry)
            rid = "0x" + logged[3].record_id.hex()
            store.amend(rid, records[3].replace(b"final", b"amended"))
            store.access.receipt(rid, LocalSigner.generate().address, purpose="care")
            store.amend(rid, records[3].replace(b"final", b"corrected"))
            anchor(store, registry)
            chain_id, address = registry.chain_id, registry.address
        log_file = published / "clinic.log.jsonl"
        with log_file.open("w") as fh:
            store.write_log(fh.write)
        publisher = store.address
    nb = nbformat.read(EXAMPLES / "auditor.ipynb", as_version=4)
    _inject_parameters(
        nb,
        {
            "LOG_FILE": str(log_file),
            "PUBLISHER": publisher,
            "CHAIN": "embedded",
            "CHAIN_HOME": str(published),
            "REGISTRY": address,
            "CHAIN_ID": chain_id,
        },
    )
    expected = [
        "audit of the published log: pass",
        "anchors",
        "audit of the edited copy: fail",
        "missing-entry",
    ]
    _execute(nb, "auditor.ipynb (published log)", tmp_path / "run", expected)
    assert "lineage: pass" not in _text(nb)  # the bundles are the publisher's: not run here


def _execute(nb: Any, name: str, tmp_path: Path, expected: list[str]) -> None:
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    workdir, tmp = tmp_path / "cwd", tmp_path / "tmp"
    workdir.mkdir(parents=True)
    tmp.mkdir(parents=True)
    client = NotebookClient(
        nb,
        km=_kernel_manager(tmp_path / "kernels", tmp),
        timeout=CELL_TIMEOUT,
        allow_errors=False,
        resources={"metadata": {"path": str(workdir)}},
    )
    try:
        client.execute()
    except CellExecutionError as exc:
        pytest.fail(f"{name}: a cell failed:\n{ANSI.sub('', str(exc))}")

    errors = [out for out in _outputs(nb) if out.output_type == "error"]
    assert not errors, f"{name}: {errors[0].ename}: {errors[0].evalue}"
    assert all(cell.execution_count is not None for cell in nb.cells if cell.cell_type == "code"), (
        f"{name}: not every code cell ran"
    )
    images = [out for out in _outputs(nb) if "image/png" in out.get("data", {})]
    assert images, f"{name}: no plot was rendered"
    text = _text(nb)
    for wanted in expected:
        assert wanted in text, f"{name}: {wanted!r} not in its output"
    assert list(workdir.iterdir()) == [], f"{name}: wrote files into its working folder"
    left = [p.name for p in tmp.iterdir() if p.name.startswith("okeios-")]
    assert not left, f"{name}: did not remove its temporary folder {left}"


def test_the_auditor_notebook_with_papermill_on_a_log_of_the_fhir_examples(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As examples/README.md says to run it: ``papermill`` with the parameters of a real log.
    The log holds the published FHIR R4 examples, and its one amendment is the last entry
    (the record chosen for the edited copy has no entry after its amendment)."""
    _require_tools()
    pytest.importorskip("papermill", reason="the notebook extra installs papermill")
    import papermill

    from okeios.service import Okeios
    from tests.conftest import shared_dir

    examples = sorted(shared_dir("fhir", "r4-examples").glob("Observation-*.json"))[:15]
    assert len(examples) == 15
    published = tmp_path / "published"
    with Okeios.open(published, create=True, log_name="clinic") as ok:
        for path in examples:
            ok.add_file(path)
        ok.anchor()
        first = ok.records()[0]
        name = f"{first.resource_type}/{first.resource_id}"
        resource = ok.show(name)
        ok.amend(name, {**resource, "status": "amended"})  # the last entry of the log
        ok.anchor()
        log_file = tmp_path / "clinic.log.jsonl"
        ok.write_log(log_file)
        pin = ok.policy("embedded")
        publisher = ok.address
    tmp, cwd = tmp_path / "tmp", tmp_path / "cwd"
    tmp.mkdir()
    cwd.mkdir()
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    out = tmp_path / "audit.ipynb"
    papermill.execute_notebook(
        str(EXAMPLES / "auditor.ipynb"),
        str(out),
        parameters={
            "LOG_FILE": str(log_file),
            "PUBLISHER": publisher,
            "CHAIN": "embedded",
            "CHAIN_HOME": str(published),
            "REGISTRY": pin.registry,
            "CHAIN_ID": pin.chain_id,
        },
        kernel_name="python3",
        cwd=str(cwd),
        progress_bar=False,
        execution_timeout=CELL_TIMEOUT,
    )
    import nbformat

    text = _text(nbformat.read(out, as_version=4))
    assert "audit of the published log: pass" in text
    assert "audit of the edited copy: fail" in text
    assert "history-mismatch" in text  # its one amendment was last: no gap in a record
    assert list(cwd.iterdir()) == []
