"""Kill -9 at every step of the multi-step verbs, on SQLite and PostgreSQL.

For each scenario (a verb on a prepared home) and each fault step (``okeios._internal.faults``:
``commit@N``, ``committed@N``, and the verbs' own steps), a fresh home is prepared, the verb
runs in a child process with ``OKEIOS_FAULT=STEP@N:kill``, and then:

* if the child finished without reaching the step, the step list of that scenario is done;
* else it was killed there: unless the job turns out finished already (the kill came after
  the last commit), the same command runs again and must exit 0; then the job must be
  finished (the scenario's own test), nothing acknowledged before may be lost and nothing
  duplicated, ``okeios check`` must pass and ``okeios audit`` of the published log too.

Used by ``tests/test_fault_loops.py`` (a small budget) and ``scripts/fault-loop`` (all steps,
repeatedly). Findings are returned as text, one per broken promise.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from okeios._internal.cli.main import main
from tests.helpers import okeios_process

REPO = Path(__file__).resolve().parent.parent

RECORD = {"resourceType": "Observation", "id": "o%d", "status": "final", "code": {"text": "x"}}


def record_file(folder: Path, i: int, **extra: object) -> Path:
    doc = {**RECORD, "id": f"o{i}", **extra}
    path = folder / f"o{i}-{len(extra)}.json"
    path.write_text(json.dumps(doc))
    return path


@dataclass
class Ctx:
    """One fresh home (and its scratch folder) for one run of a scenario."""

    home: Path
    tmp: Path
    database: str | None
    facts: dict[str, Any] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = {**os.environ, "OKEIOS_HOME": str(self.home)}
        env.pop("OKEIOS_FAULT", None)
        return env

    def cli(self, *args: str, expect: int | None = 0) -> tuple[int, str]:
        """Run the command line in this process (fast): exit code and output."""
        out = io.StringIO()
        old = os.environ.get("OKEIOS_HOME")
        os.environ["OKEIOS_HOME"] = str(self.home)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                try:
                    code = main(list(args))
                except SystemExit as exc:
                    code = int(exc.code or 0)
        finally:
            if old is None:
                os.environ.pop("OKEIOS_HOME", None)
            else:
                os.environ["OKEIOS_HOME"] = old
        if expect is not None and code != expect:
            raise AssertionError(f"okeios {' '.join(args)}: exit {code}\n{out.getvalue()[-800:]}")
        return code, out.getvalue()

    def child(self, args: list[str], fault: str | None) -> subprocess.CompletedProcess[str]:
        env = self.env()
        if fault:
            env["OKEIOS_FAULT"] = fault
        return okeios_process(env, *args, timeout=300, cwd=REPO)

    def publisher(self) -> str:
        return str(json.loads((self.home / "trust.json").read_text())["publishers"][0])

    def store(self) -> Any:
        from okeios._internal.publish.store import Store

        return Store.open(self.home)


@dataclass(frozen=True)
class Scenario:
    name: str
    setup: Callable[[Ctx], None]
    command: Callable[[Ctx], list[str]]
    finished: Callable[[Ctx], str | None]  # None: the job is done; else what is missing
    steps: tuple[str, ...] = ("commit", "committed")
    slow: bool = False  # needs the embedded chain (seconds per run): the script only


# --- the scenarios ---------------------------------------------------------------------------


def _init(ctx: Ctx) -> None:
    args = ["init", "--no-passphrase"]
    if ctx.database:
        args += ["--database", ctx.database]
    ctx.cli(*args)


def _added(ctx: Ctx, n: int = 1) -> list[str]:
    files = [str(record_file(ctx.tmp, i)) for i in range(n)]
    _, out = ctx.cli("add", *files, "--json")
    ids: list[str] = json.loads(out[out.index("{") :])["records"]
    return ids


def _recipient(ctx: Ctx) -> None:
    key = ctx.tmp / "r.key"
    _, out = ctx.cli("recipient", "-o", str(key), "--json")
    made = json.loads(out[out.index("{") :])
    ctx.facts.update(key=key, binding=made["binding"], address=made["address"])


def _records(ctx: Ctx) -> list[Any]:
    with ctx.store() as store:
        return list(store.records())


def setup_add(ctx: Ctx) -> None:
    _init(ctx)
    ctx.facts["files"] = [str(record_file(ctx.tmp, i)) for i in range(3)]


def finished_add(ctx: Ctx) -> str | None:
    rows = _records(ctx)
    names = sorted(f"{r.resource_type}/{r.resource_id}" for r in rows)
    if names != ["Observation/o0", "Observation/o1", "Observation/o2"]:
        return f"records {names}"
    return None


def setup_amend(ctx: Ctx) -> None:
    _init(ctx)
    ctx.facts["rid"] = _added(ctx)[0]
    ctx.facts["new"] = str(record_file(ctx.tmp, 0, status="amended"))


def finished_amend(ctx: Ctx) -> str | None:
    with ctx.store() as store:
        content, info = store.show(ctx.facts["rid"])
        versions = info["versions"]
    if content.get("status") != "amended" or versions != 2:
        return f"status {content.get('status')}, {versions} versions (want amended, 2)"
    return None


def setup_grant(ctx: Ctx) -> None:
    _init(ctx)
    ctx.facts["rid"] = _added(ctx)[0]
    _recipient(ctx)
    ctx.facts["share"] = ctx.tmp / "r.share"


def _grants(ctx: Ctx) -> int:
    with ctx.store() as store:
        return sum(1 for e in store.history(ctx.facts["rid"]) if e["kind"] == "grant")


def finished_grant(ctx: Ctx) -> str | None:
    share: Path = ctx.facts["share"]
    if not share.exists():
        return "no share file"
    if _grants(ctx) != 1:
        return f"{_grants(ctx)} GRANT events (want 1)"
    out = ctx.tmp / "plain.json"
    ctx.cli("decrypt", str(share), "--key", str(ctx.facts["key"]), "-o", str(out))
    if json.loads(out.read_text()).get("id") != "o0":
        return "the share does not decrypt to the record"
    return None


def setup_revoke(ctx: Ctx) -> None:
    setup_grant(ctx)
    ctx.cli(*command_grant(ctx))


def finished_revoke(ctx: Ctx) -> str | None:
    with ctx.store() as store:
        from okeios._internal.protocol.signing import checksum_address

        record_id = store.record_id_of(ctx.facts["rid"])
        active = store.grants.active(record_id, checksum_address(ctx.facts["address"]))
        revokes = sum(1 for e in store.history(ctx.facts["rid"]) if e["kind"] == "revoke")
    if active or revokes != 1:
        return f"{active} active grants, {revokes} REVOKE events (want 0, 1)"
    return None


def setup_erase(ctx: Ctx) -> None:
    setup_revoke(ctx)


def finished_erase(ctx: Ctx) -> str | None:
    from okeios._internal.publish.erasure import pending_erasures

    with ctx.store() as store:
        record_id = store.record_id_of(ctx.facts["rid"])
        erased = store.is_erased(record_id)
        pending = pending_erasures(store)
        erases = sum(1 for e in store.history(ctx.facts["rid"]) if e["kind"] == "erase")
    if not erased or pending or erases != 1:
        return f"erased {erased}, pending {len(pending)}, {erases} ERASE events"
    return None


def setup_tiles(ctx: Ctx) -> None:
    _init(ctx)
    _added(ctx, 3)
    ctx.facts["tiles"] = ctx.tmp / "tiles"


def finished_tiles(ctx: Ctx) -> str | None:
    code, out = ctx.cli(
        "audit", "--tiles", str(ctx.facts["tiles"]), "--publisher", ctx.publisher(), expect=None
    )
    return None if code == 0 else f"audit of the tiles: exit {code}: {out[-300:]}"


def setup_witness(ctx: Ctx) -> None:
    setup_tiles(ctx)
    _, out = ctx.cli("log", "--tiles", str(ctx.facts["tiles"]), "--json")
    vkey = json.loads(out[out.index("{") :])["vkey"]
    from okeios._internal.protocol.note import parse_note

    note = (ctx.facts["tiles"] / "checkpoint").read_bytes()
    origin = parse_note(note).text.splitlines()[0]
    wdir = ctx.tmp / "w"
    ctx.cli("witness", "init", "--dir", str(wdir), "--name", "w.example")
    ctx.cli("witness", "add-log", "--dir", str(wdir), "--origin", origin, "--vkey", vkey)
    request = ctx.tmp / "request"
    request.write_bytes(b"old 0\n\n" + note)
    ctx.facts.update(wdir=wdir, request=request, origin=origin)


def finished_witness(ctx: Ctx) -> str | None:
    state = json.loads((ctx.facts["wdir"] / "state.json").read_text())
    # the state is kept per log id (the origin is okeios/0x<log id>)
    size = state["logs"][ctx.facts["origin"].removeprefix("okeios/")]["size"]
    return None if size == 3 else f"the witness holds size {size} (want 3)"


def setup_anchor(ctx: Ctx) -> None:
    _init(ctx)
    _added(ctx, 2)


def finished_anchor(ctx: Ctx) -> str | None:
    with ctx.store() as store:
        final = store.journal.anchored_for(store.size - 1)
    return None if final is not None else "no final anchor of the log"


def command_grant(ctx: Ctx) -> list[str]:
    rid, binding, share = ctx.facts["rid"], ctx.facts["binding"], ctx.facts["share"]
    return ["grant", rid, "--recipient", binding, "-o", str(share)]


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "add",
            setup_add,
            lambda c: ["add", "--chunk", "1", *c.facts["files"]],
            finished_add,
        ),
        Scenario(
            "amend",
            setup_amend,
            lambda c: ["amend", c.facts["rid"], c.facts["new"]],
            finished_amend,
        ),
        Scenario(
            "grant",
            setup_grant,
            command_grant,
            finished_grant,
            ("commit", "committed", "grant-share"),
        ),
        Scenario(
            "share",
            setup_revoke,
            lambda c: [
                "share",
                c.facts["rid"],
                "--recipient",
                c.facts["address"],
                "-o",
                str(c.tmp / "again.share"),
            ],
            lambda c: None if (c.tmp / "again.share").exists() else "no share file",
        ),
        Scenario(
            "revoke",
            setup_revoke,
            lambda c: ["revoke", c.facts["rid"], "--recipient", c.facts["address"]],
            finished_revoke,
        ),
        Scenario(
            "erase",
            setup_erase,
            lambda c: ["erase", c.facts["rid"], "--yes"],
            finished_erase,
            ("commit", "committed", "erase-purge"),
        ),
        Scenario(
            "log --tiles",
            setup_tiles,
            lambda c: ["log", "--tiles", str(c.facts["tiles"])],
            finished_tiles,
            ("tiles-file",),
        ),
        Scenario(
            "witness",
            setup_witness,
            lambda c: [
                "witness",
                "add-checkpoint",
                "--dir",
                str(c.facts["wdir"]),
                str(c.facts["request"]),
            ],
            finished_witness,
            ("witness-save",),
        ),
        Scenario("anchor", setup_anchor, lambda c: ["anchor"], finished_anchor, slow=True),
    )
}


# --- the loop --------------------------------------------------------------------------------


@dataclass
class Tally:
    runs: int = 0
    kills: int = 0
    reruns: int = 0
    findings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"{self.runs} runs, {self.kills} killed, {self.reruns} re-runs, "
            f"{len(self.findings)} findings, {self.seconds:.0f} s"
        )


@contextlib.contextmanager
def fresh(database: Callable[[], contextlib.AbstractContextManager[str]] | None) -> Iterator[Ctx]:
    with tempfile.TemporaryDirectory(prefix="okeios-faults-") as tmp:
        if database is None:
            yield Ctx(Path(tmp) / "home", Path(tmp), None)
        else:
            with database() as url:
                yield Ctx(Path(tmp) / "home", Path(tmp), url)


def _events(ctx: Ctx) -> list[tuple[str, str]]:
    with ctx.store() as store:
        return [(e.kind, e.record_id.hex()) for e in (s.event for s in store.iter_events())]


def _audit(ctx: Ctx) -> str | None:
    code, out = ctx.cli("check", expect=None)
    if code != 0:
        return f"okeios check: exit {code}: {out.strip()[-300:]}"
    log = ctx.tmp / "audit.jsonl"
    ctx.cli("log", "-o", str(log))
    code, out = ctx.cli("audit", "--log", str(log), "--publisher", ctx.publisher(), expect=None)
    if code != 0:
        return f"okeios audit: exit {code}: {out.strip()[-300:]}"
    return None


def run_step(
    scenario: Scenario,
    step: str,
    n: int,
    tally: Tally,
    database: Callable[[], contextlib.AbstractContextManager[str]] | None = None,
) -> bool:
    """One kill of ``scenario`` at the ``n``-th ``step``; ``False`` when the verb finished
    before reaching it (no further ``n`` to try)."""
    label = f"{scenario.name} [{'postgresql' if database else 'sqlite'}] {step}@{n}"
    with fresh(database) as ctx:
        scenario.setup(ctx)
        before = _events(ctx)
        tally.runs += 1
        done = ctx.child(scenario.command(ctx), f"{step}@{n}:kill")
        if done.returncode != -signal.SIGKILL:
            if done.returncode != 0:
                tally.findings.append(f"{label}: exit {done.returncode}: {done.stderr[-300:]}")
            elif (missing := scenario.finished(ctx)) is not None:
                tally.findings.append(f"{label}: finished without the job done: {missing}")
            return False
        tally.kills += 1
        if scenario.finished(ctx) is not None:  # the kill came before the job was done
            tally.reruns += 1
            again = ctx.child(scenario.command(ctx), None)
            if again.returncode != 0:
                tally.findings.append(
                    f"{label}: the re-run exits {again.returncode}: {again.stderr.strip()[-300:]}"
                )
                return True
            if (missing := scenario.finished(ctx)) is not None:
                tally.findings.append(f"{label}: the re-run did not finish the job: {missing}")
        after = _events(ctx)
        if after[: len(before)] != before:
            tally.findings.append(f"{label}: events logged before the kill were lost")
        kinds = [k for k, _ in after[len(before) :]]
        if len(kinds) != len(set(zip(kinds, [r for _, r in after[len(before) :]], strict=True))):
            tally.findings.append(f"{label}: an event was logged twice: {kinds}")
        if (problem := _audit(ctx)) is not None:
            tally.findings.append(f"{label}: {problem}")
    return True


def run_scenario(
    scenario: Scenario,
    tally: Tally,
    *,
    database: Callable[[], contextlib.AbstractContextManager[str]] | None = None,
    max_n: int = 8,
    steps: tuple[str, ...] | None = None,
    deadline: float | None = None,
) -> None:
    started = time.monotonic()
    for step in steps or scenario.steps:
        for n in range(1, max_n + 1):
            if deadline is not None and time.monotonic() > deadline:
                return
            if not run_step(scenario, step, n, tally, database):
                break
    tally.seconds += time.monotonic() - started
