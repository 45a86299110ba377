"""`okeios add` of a large FHIR NDJSON export: streamed in chunks, one transaction each, so
memory stays flat, a crash loses at most the chunk in progress, running the same file again is
safe (what was kept is `unchanged`), and every error names its line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from okeios._internal.cli import options
from okeios._internal.cli.main import main
from okeios._internal.cli.records import _AddReport
from okeios._internal.protocol.fhir import stream_resources
from okeios._internal.publish.records import Records
from okeios._internal.publish.store import Store
from okeios.errors import InputError
from tests.helpers import run_cli

okeios = run_cli


def _obs(i: int, status: str = "final") -> str:
    return json.dumps(
        {"resourceType": "Observation", "id": f"o{i}", "status": status, "code": {"text": "x"}}
    )


def _ndjson(path: Path, n: int, *, bad: int | None = None) -> Path:
    with path.open("w") as fh:
        for i in range(1, n + 1):
            fh.write("{not json\n" if i == bad else _obs(i) + "\n")
    return path


def test_a_bad_line_stops_the_add_keeps_the_chunks_before_and_a_rerun_is_safe(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    okeios(home, "init", "--no-passphrase")
    bulk = _ndjson(tmp_path / "Observation.ndjson", 95, bad=47)
    failed = okeios(home, "add", str(bulk), "--chunk", "10", expect=2)
    assert f"{bulk} line 47" in failed.stderr
    assert "stopped after 40 resource(s)" in failed.stderr
    kept = failed.stdout.splitlines()
    assert len(kept) == 40
    assert all(line.split()[1] == "created" for line in kept)
    listing = json.loads(okeios(home, "records", "--count", "--json").stdout)
    assert listing["count"] == 40

    _ndjson(bulk, 95)  # the line fixed: the same file again
    again = json.loads(okeios(home, "add", str(bulk), "--chunk", "10", "--json").stdout)
    counts = [again[status] for status in ("created", "unchanged", "amended", "stale")]
    assert counts == [55, 40, 0, 0]
    assert [r["status"] for r in again["results"][:40]] == ["unchanged"] * 40
    assert len(again["records"]) == len(set(again["records"])) == 95
    assert json.loads(okeios(home, "check", "--json").stdout)["result"] == "pass"
    assert json.loads(okeios(home, "records", "--count", "--json").stdout)["count"] == 95


def test_a_killed_add_loses_at_most_its_chunk_and_a_rerun_completes_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    okeios(home, "init", "--no-passphrase")
    total = 4000
    bulk = _ndjson(tmp_path / "Observation.ndjson", total)
    env = {**os.environ, "OKEIOS_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "okeios", "add", str(bulk), "--chunk", "50"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    assert proc.stdout is not None
    printed = 0
    for _ in proc.stdout:  # each line is printed once its chunk is committed
        printed += 1
        if printed == 120:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    with Store.open(home) as store:
        kept = store.size
    assert printed <= kept < total  # what was printed was committed; the rest was not
    assert kept % 50 == 0  # whole chunks only: nothing half-written

    rerun = json.loads(okeios(home, "add", str(bulk), "--chunk", "50", "--json").stdout)
    assert rerun["unchanged"] == kept
    assert rerun["created"] == total - kept
    with Store.open(home) as store:
        assert store.size == total  # no resource twice
        assert store.check() == []


def test_the_file_is_read_as_it_is_added_in_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    Store.init(home, passphrase="").close()
    monkeypatch.setenv("OKEIOS_HOME", str(home))
    bulk = _ndjson(tmp_path / "big.ndjson", 1000)
    size = bulk.stat().st_size
    calls: list[tuple[int, int]] = []
    real_put = Records.put
    opened: list[Any] = []
    real_stream = stream_resources

    def spy_stream(stream: Any, **kw: Any) -> Any:
        opened.append(stream)
        return real_stream(stream, **kw)

    def spy_put(self: Records, records: Any, **kw: Any) -> Any:
        calls.append((len(records), opened[0].tell()))
        return real_put(self, records, **kw)

    monkeypatch.setattr("okeios._internal.protocol.fhir.stream_resources", spy_stream)
    monkeypatch.setattr(Records, "put", spy_put)
    monkeypatch.setattr(_AddReport, "PROGRESS_EVERY", 0.0)  # a progress line per resource
    assert main(["add", str(bulk), "--chunk", "100", "--progress"]) == 0
    assert [n for n, _ in calls] == [100] * 10
    # When the first chunk is put, little more than that chunk has been read of the file.
    assert calls[0][1] < size / 5
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 1000
    assert err.splitlines()[-1] == (
        "okeios add: 1000 resource(s): 1000 created, 0 amended, 0 unchanged, 0 stale"
    )
    assert "okeios add: adding: 500 resource(s): 500 created" in err


def test_a_bundle_too_large_to_parse_whole_is_refused_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    Store.init(home, passphrase="").close()
    monkeypatch.setenv("OKEIOS_HOME", str(home))
    monkeypatch.setattr(options, "MAX_INPUT", 4096)
    entries = [{"resource": json.loads(_obs(i))} for i in range(100)]
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps({"resourceType": "Bundle", "entry": entries}, indent=2))
    assert main(["add", str(bundle)]) == 2
    err = capsys.readouterr().err
    assert "larger than the 4096-byte limit for a whole JSON file" in err
    assert "NDJSON" in err
    # The same resources as NDJSON are read line by line: no limit on the file, only on a line.
    bulk = _ndjson(tmp_path / "bulk.ndjson", 100)
    assert bulk.stat().st_size > 4096
    assert main(["add", str(bulk)]) == 0
    capsys.readouterr()
    long_line = tmp_path / "long.ndjson"
    long_line.write_text(_obs(1) + "\n" + json.dumps({"resourceType": "Basic", "x": "y" * 5000}))
    assert main(["add", str(long_line)]) == 2
    assert f"{long_line} line 2 is longer than the 4096-byte limit" in capsys.readouterr().err
    with Store.open(home) as store:
        assert store.size == 100  # the refused files logged nothing


@pytest.mark.parametrize(
    ("text", "resources", "where"),
    [
        (_obs(1) + "\n\n" + _obs(2) + "\n", 2, ["f line 1", "f line 3"]),
        (_obs(1), 1, ["f"]),
        ("\n" + _obs(1) + "\n\n", 1, ["f"]),
        (json.dumps(json.loads(_obs(1)), indent=2), 1, ["f"]),
        (
            json.dumps({"resourceType": "Bundle", "entry": [{"resource": {"a": 1}}] * 2}),
            2,
            ["f entry 0", "f entry 1"],
        ),
    ],
)
def test_stream_resources_reads_what_fhir_resources_reads(
    tmp_path: Path, text: str, resources: int, where: list[str]
) -> None:
    path = tmp_path / "f"
    path.write_text(text)
    with path.open("rb") as fh:
        got = list(stream_resources(fh, limit=1 << 20, name="f"))
    assert [w for w, _ in got] == where
    assert len(got) == resources


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_obs(1) + "\n[1]\n", "f line 2 is not a JSON object"),
        (_obs(1) + "\n" + _obs(2)[:-1] + "\n", "f line 2: "),
        (_obs(1) + '\n{"a": 1, "a": 2}\n', "f line 2: duplicate member name"),
        ("[1, 2", "f: "),
    ],
)
def test_stream_resources_names_the_line_of_an_error(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "f"
    path.write_text(text)
    with path.open("rb") as fh, pytest.raises(InputError) as caught:
        list(stream_resources(fh, limit=1 << 20, name="f"))
    assert str(caught.value).startswith(message)


def test_stdin_is_streamed_too(tmp_path: Path) -> None:
    home = tmp_path / "home"
    okeios(home, "init", "--no-passphrase")
    env = {**os.environ, "OKEIOS_HOME": str(home)}
    text = "\n".join(_obs(i) for i in range(30))
    done = subprocess.run(
        [sys.executable, "-m", "okeios", "add", "-", "--chunk", "7", "--json"],
        input=text,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert json.loads(done.stdout)["created"] == 30
