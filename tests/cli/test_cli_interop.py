"""The standard formats from the command line: tiles published and audited with a witness
quorum, a witness process, and an SD-JWT exported and verified."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from okeios._internal.protocol.note import parse_note
from tests.helpers import SMALL_RECORD, run_cli


def test_tiles_witness_and_audit_from_the_command_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    wdir = tmp_path / "witness"
    tiles = tmp_path / "tiles"
    cache = tmp_path / "cache"
    run_cli(home, "init")
    records = []
    for i in range(3):
        path = tmp_path / f"r{i}.json"
        path.write_bytes(SMALL_RECORD.replace(b'"hba1c"', b'"hba1c-%d"' % i))
        records.append(str(path))
    run_cli(home, "add", *records[:2])
    run_cli(home, "anchor")
    publisher = json.loads((home / "trust.json").read_text())["publishers"][0]

    # Publish without a witness first: that prints the note key the witness must trust.
    done = run_cli(home, "log", "--tiles", str(tiles), "--json")
    summary = json.loads(done.stdout)
    assert summary["treeSize"] == 2
    origin = parse_note((tiles / "checkpoint").read_bytes()).text.splitlines()[0]
    again = run_cli(home, "log", "--tiles", str(tiles)).stdout
    assert "(0 files written, 3 kept)" in again
    assert f"note key: {summary['vkey']}" in again

    wkey = run_cli(home, "witness", "init", "--dir", str(wdir), "--name", "w.example").stdout
    run_cli(
        home,
        "witness",
        "add-log",
        "--dir",
        str(wdir),
        "--origin",
        origin,
        "--vkey",
        summary["vkey"],
    )
    env = {**os.environ, "OKEIOS_HOME": str(home)}
    server = subprocess.Popen(
        [sys.executable, "-m", "okeios", "witness", "serve", "--dir", str(wdir)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split()[-1]
        assert url.startswith("http://127.0.0.1:")
        done = run_cli(
            home, "log", "--tiles", str(tiles), "--witness", url,
            "--witness-key", wkey.strip(), "--json",
        )  # fmt: skip
        assert json.loads(done.stdout)["cosignatures"] == 1
        audit = (
            "audit",
            "--tiles",
            str(tiles),
            "--cache",
            str(cache),
            "--publisher",
            publisher,
            "--chain",
            "embedded",
            "--witness",
            wkey.strip(),
            "--quorum",
            "1",
            "--json",
        )
        done = run_cli(home, *audit)
        assert json.loads(done.stdout)["result"] == "pass"
        # The log grows; the publisher asks again (with a consistency proof from size 2).
        run_cli(home, "add", records[2])
        run_cli(home, "anchor")
        done = run_cli(
            home, "log", "--tiles", str(tiles), "--witness", url,
            "--witness-key", wkey.strip(), "--json",
        )  # fmt: skip
        assert json.loads(done.stdout)["cosignatures"] == 1
        assert json.loads(run_cli(home, *audit).stdout)["counts"]["entries"] == 3
    finally:
        server.terminate()
        server.wait(timeout=10)
    state = json.loads((wdir / "state.json").read_text())
    # The witness keeps its state per log id, not per origin string.
    assert state["logs"]["0x" + origin.removeprefix("okeios/0x")]["size"] == 3
    # Two witnesses required, one cosigned: the audit fails with the reason named.
    other = run_cli(home, "witness", "init", "--dir", str(tmp_path / "w2"), "--name", "w2.x").stdout
    done = run_cli(
        home,
        "audit",
        "--tiles",
        str(tiles),
        "--publisher",
        publisher,
        "--chain",
        "embedded",
        "--witness",
        wkey.strip(),
        "--witness",
        other.strip(),
        "--json",
        expect=1,
    )
    assert "witness-quorum" in json.loads(done.stdout)["defectCounts"]
    # An offline request to the witness: a stale old size is refused with 409.
    request = tmp_path / "request"
    request.write_bytes(b"old 0\n\n" + (tiles / "checkpoint").read_bytes())
    done = run_cli(home, "witness", "add-checkpoint", "--dir", str(wdir), str(request), expect=1)
    assert "409" in done.stderr


def test_sd_jwt_from_the_command_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run_cli(home, "init")
    record = tmp_path / "r.json"
    record.write_bytes(SMALL_RECORD)
    rid = run_cli(home, "add", str(record)).stdout.split()[0]
    publisher = json.loads((home / "trust.json").read_text())["publishers"][0]
    out = tmp_path / "value.sd-jwt"
    run_cli(home, "sd-jwt", "export", rid, "--field", "/valueQuantity/value", "-o", str(out))
    assert "final" not in out.read_text()  # nothing but the named field
    done = run_cli(home, "sd-jwt", "verify", str(out), "--publisher", publisher, "--json")
    payload = json.loads(done.stdout)
    assert payload["fields"] == {"/valueQuantity/value": 6.10}
    stranger = "0x" + "12" * 20
    done = run_cli(home, "sd-jwt", "verify", str(out), "--publisher", stranger, expect=1)
    assert "not a trusted publisher" in done.stdout
    run_cli(home, "sd-jwt", "export", rid, expect=2)  # no field named: refused
    # Tied to the record's bundle: verified offline, and about the same event.
    bundle = tmp_path / "r.okb"
    run_cli(home, "export", rid, "-o", str(bundle))
    tied = ("sd-jwt", "verify", str(out), "--publisher", publisher, "--bundle", str(bundle))
    assert "about this event" in run_cli(home, *tied, "--any-author").stdout
    run_cli(home, *tied, expect=2)  # whom to trust as author must be said
    # Another record's bundle verifies, but it is not what the SD-JWT speaks of.
    second = tmp_path / "r2.json"
    second.write_bytes(SMALL_RECORD.replace(b'"hba1c"', b'"other"'))
    rid2 = run_cli(home, "add", str(second)).stdout.split()[0]
    other = tmp_path / "r2.okb"
    run_cli(home, "export", rid2, "-o", str(other))
    tied = ("sd-jwt", "verify", str(out), "--publisher", publisher, "--bundle", str(other))
    done = run_cli(home, *tied, "--any-author", "--json", expect=1)
    assert json.loads(done.stdout)["result"] == "fail"


def test_a_second_origin_and_unchecked_witnesses_are_refused_on_the_command_line(
    tmp_path: Path,
) -> None:
    """Issue 19: ``okeios log --tiles --origin`` accepts only the log's one origin, and
    ``--witness`` needs the witness keys every answer is checked against (exit 2, nothing
    written)."""
    home = tmp_path / "home"
    tiles = tmp_path / "tiles"
    run_cli(home, "init")
    record = tmp_path / "r.json"
    record.write_bytes(SMALL_RECORD)
    run_cli(home, "add", str(record))
    done = run_cli(home, "log", "--tiles", str(tiles), "--origin", "example.com/log", expect=2)
    assert "one origin" in done.stdout + done.stderr
    done = run_cli(home, "log", "--tiles", str(tiles), "--witness", "http://127.0.0.1:9/", expect=2)
    assert "--witness-key" in done.stdout + done.stderr
    assert not tiles.exists()
    summary = json.loads(run_cli(home, "log", "--tiles", str(tiles), "--json").stdout)
    origin = parse_note((tiles / "checkpoint").read_bytes()).text.splitlines()[0]
    assert summary["vkey"].startswith(origin + "+")
    # Repeating the one origin is allowed.
    run_cli(home, "log", "--tiles", str(tiles), "--origin", origin)
