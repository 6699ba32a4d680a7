"""The fault run (scripts/faults, tests/e2e/test_faults.py): SIGKILL at random points, a
PostgreSQL restart under load, and a data directory on a disk that fills up; after each,
nothing acknowledged may be lost and `moorage fsck` must be clean.

Kills. One node (SQLite, filesystem blobs) on one data directory. Each round picks an
operation — a push (its larger layers in PATCH chunks), a DELETE of a manifest, a cleanup
run, a garbage collection (untagged manifests too) — starts it, waits a random moment and
SIGKILLs the server's whole process group, then restarts it on the same data and checks:
every image whose manifest PUT was answered 201 pulls back byte for byte (by tag and by
digest), every manifest whose DELETE was answered 202 stays gone, and `moorage fsck` finds
nothing but orphan objects (bytes stored by a push the kill cut short before its row was
written: garbage, which collection removes). Runs that were queued or running at a kill must
finish after the restarts (their jobs' leases lapse and another start takes them over): at
the end every started run has succeeded, one last collection runs, and fsck is clean with no
finding at all.

PostgreSQL restart. A node on a private PostgreSQL server (initdb in a temporary directory,
so nobody's database is touched) under a push-and-pull load; the database is stopped (fast
shutdown: every connection cut) and started again a moment later, several times. While it
is down requests may be refused with 503; a 500 is a failure. Afterwards the same node, not
restarted, must serve everything acknowledged, and fsck be clean.

Full disk. A node whose data directory is a small tmpfs, pushed to until the disk is full:
no 500, and no acknowledged image lost; once space is freed, pushes succeed again; after a
restart fsck is clean. Mounting needs root: without it this part is skipped, saying why.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import httpx

from moorage.config import Settings
from moorage.wiring import build
from tests.support import workload as w
from tests.support.cluster import PrivatePostgres, SmallDisk, endpoint
from tests.support.server import ServerProcess, free_port

REGISTRY = "faults"
MIRROR = "mirror"  # where the replication rule copies the kept images
LEASE_SECONDS = 2  # a killed job's lease lapses quickly, so its run resumes within a round
ENV = {
    "MOORAGE_ALLOW_PRIVATE_TARGETS": "true",  # replication copies to this same node
    "MOORAGE_GC_GRACE_SECONDS": "1",
    "MOORAGE_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
    "MOORAGE_LOG_LEVEL": "error",
}
KiB = 1024
UNFINISHED = ("queued", "pending", "running")
MAX_KILLS_PER_RUN = 2
Log = Callable[[str], None]


@dataclass(frozen=True)
class FaultOptions:
    kills: int = 20
    seed: int = 1
    postgres_restarts: int = 2
    full_disk: bool = True


@dataclass
class FaultVerdict:
    options: FaultOptions
    kills: Counter[str] = field(default_factory=Counter)
    acknowledged: int = 0
    verified: int = 0
    losses: list[str] = field(default_factory=list)
    fsck_failures: list[str] = field(default_factory=list)
    orphans_after_kills: int = 0
    interrupted_runs: int = 0
    resumed_runs: int = 0
    runs_not_finished: list[str] = field(default_factory=list)
    postgres_restarts: int = 0
    statuses_while_down: Counter[int] = field(default_factory=Counter)
    full_disk: str = "not run"
    server_errors: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # anything else that went wrong

    @property
    def passed(self) -> bool:
        found = [self.losses, self.fsck_failures, self.runs_not_finished, self.server_errors]
        return not any([*found, self.failures]) and self.verified == self.acknowledged

    def line(self) -> str:
        by_operation = ", ".join(f"{n} {op}" for op, n in sorted(self.kills.items()))
        down = ", ".join(f"{n}× {s}" for s, n in sorted(self.statuses_while_down.items()))
        return (
            f"faults {'PASS' if self.passed else 'FAIL'}: {sum(self.kills.values())} kills "
            f"({by_operation}), {len(self.losses)} losses, {self.verified}/{self.acknowledged} "
            f"acknowledged images re-pulled byte-identical, fsck "
            f"{'clean' if not self.fsck_failures else 'NOT clean'} after every restart, "
            f"{self.resumed_runs}/{self.interrupted_runs} interrupted runs finished; "
            f"PostgreSQL restarted {self.postgres_restarts}× under load "
            f"({down or 'no refusals'}); full disk: {self.full_disk}; "
            f"{len(self.server_errors)} 500s"
        )


# --- one node that is killed and restarted ------------------------------------------------------


class Node:
    """A data directory and the server running on it now (a new port after each restart)."""

    def __init__(self, data_dir: Path, env: dict[str, str], database_url: str | None = None):
        self.data_dir = data_dir
        self.env = env
        self.database_url = database_url
        self.tally = w.Tally()
        self.port = free_port()  # the same after each restart: a replication rule names it
        self.server = self._start()

    def _start(self) -> ServerProcess:
        server = ServerProcess(self.data_dir, self.database_url, self.env, self.port, auth=True)
        return server.start(60)

    def restart(self) -> None:
        self.server.kill()
        self.server = self._start()

    @contextmanager
    def clients(self) -> Iterator[tuple[w.Pusher, httpx.Client]]:
        with w.clients(endpoint(self.server), self.tally) as (v2, rest):
            yield w.Pusher(v2, self.tally, random.Random()), rest

    def fsck(self) -> list[dict[str, Any]]:
        """fsck's findings (an unreadable report is one finding)."""
        proc = self.server.cli("fsck", "--json", check=False)
        try:
            return list(json.loads(proc.stdout)["findings"])
        except (ValueError, KeyError):
            return [{"kind": "fsck_failed", "subject": "", "detail": proc.stderr[-2000:]}]

    def while_down(self, runs: Sequence[str]) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """While the server is down, in this process (a Python process per round would cost
        seconds): what `moorage fsck` finds, and the status of each run (a REST path) as the
        kill left it. The last check of all runs the command itself."""
        settings = Settings(
            data_dir=self.data_dir,
            database_url=self.database_url,
            gc_grace_seconds=float(self.env["MOORAGE_GC_GRACE_SECONDS"]),
        )
        container = build(settings, migrate_schema=False)
        try:
            report = anyio.run(partial(container.fsck.check))
            statuses = {}
            for path in runs:
                run_id = int(path.rsplit("/", 1)[1])
                if path.startswith("/gc-runs/"):
                    statuses[path] = str(container.gc.get_run(run_id).status)
                elif "/replications/" in path:
                    statuses[path] = container.replication.get_run(REGISTRY, run_id).status
                else:
                    detail = container.cleanup_runs.detail(REGISTRY, run_id)
                    statuses[path] = str(detail.execution.status)
        finally:
            container.close()
        return [asdict(finding) for finding in report.findings], statuses

    def stop(self) -> None:
        self.server.stop()


def serious(findings: Sequence[dict[str, Any]]) -> list[str]:
    """fsck's findings other than orphan objects (garbage a cut-short push leaves)."""
    return [
        f"{f['kind']} {f['subject']}: {f['detail']}"
        for f in findings
        if f["kind"] != "orphan_object"
    ]


# --- the kill rounds ---------------------------------------------------------------------------


@dataclass
class Ledger:
    kept: list[w.Image] = field(default_factory=list)
    doomed: list[w.Image] = field(default_factory=list)
    deleted: list[w.Image] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)  # REST paths of the runs started
    interrupted: Counter[str] = field(default_factory=Counter)  # run → kills it was unfinished at


class Rounds:
    """The kill rounds on one node: operations, the kill, the checks after each restart."""

    def __init__(self, node: Node, verdict: FaultVerdict, seed: int, log: Log) -> None:
        self.node = node
        self.verdict = verdict
        self.rng = random.Random(seed)
        self.content = w.Content(6, 768 * KiB, seed)  # some layers need PATCH chunks
        self.ledger = Ledger()
        self.log = log
        self.pushed = 0
        self.acknowledged = threading.Event()
        self.rule = 0  # the replication rule, made by setup()

    def setup(self) -> None:
        with self.node.clients() as (pusher, rest):
            w.create_registry(rest, REGISTRY)
            w.create_registry(rest, MIRROR)
            w.add_cleanup_policy(rest, REGISTRY, "doomed", 2)
            self.rule = w.add_replication(
                rest, REGISTRY, endpoint(self.node.server), MIRROR, "kept"
            )
            for _ in range(4):  # something for the first deletes and runs to act on
                self.push(pusher, keep=False)

    def push(self, pusher: w.Pusher, keep: bool) -> None:
        self.pushed += 1
        image, blobs = self.content.build(
            f"{REGISTRY}/{'kept' if keep else 'doomed'}", f"t{self.pushed}", self.rng
        )
        if pusher.push(image, blobs):  # a cut connection raises: not acknowledged
            (self.ledger.kept if keep else self.ledger.doomed).append(image)

    def keep_pushing(self) -> None:
        """Pushes to keep, one after the other, until the kill cuts one off: whatever the
        round's operation is, a push is in flight when the server dies."""
        rng = random.Random(self.rng.random())
        with suppress(httpx.HTTPError, w.PushRefused), self.node.clients() as (pusher, _):
            while True:
                self.pushed += 1
                image, blobs = self.content.build(f"{REGISTRY}/kept", f"b{self.pushed}", rng)
                if pusher.push(image, blobs):
                    self.ledger.kept.append(image)
                    self.acknowledged.set()

    def delete(self, pusher: w.Pusher) -> None:
        if self.ledger.doomed:
            image = self.ledger.doomed.pop(self.rng.randrange(len(self.ledger.doomed)))
            if pusher.delete(image) == 202:
                self.ledger.deleted.append(image)

    def start_run(self, rest: httpx.Client, kind: str) -> None:
        if kind == "replication":
            if path := w.start_replication(rest, REGISTRY, self.rule):
                self.ledger.runs.append(path)
            return
        if kind == "gc":
            run_id, path = w.start_gc(rest), "/gc-runs/{}"
        else:
            run_id, path = (
                w.start_cleanup(rest, REGISTRY),
                f"/registries/{REGISTRY}/cleanup-runs/{{}}",
            )
        if run_id is not None:
            self.ledger.runs.append(path.format(run_id))

    def operation(self, kind: str) -> None:
        with self.node.clients() as (pusher, rest):
            if kind == "push":
                self.push(pusher, keep=self.rng.random() < 0.7)
            elif kind == "delete":
                self.delete(pusher)
            else:
                self.start_run(rest, kind)

    def round(self) -> None:
        """One operation, a kill at a random moment after it started, restart, check.

        A push or delete is killed while in flight (or just after it answered); a run is
        killed a moment after it was queued, while the server carries it out."""
        kind = self.rng.choice(["push", "push", "delete", "cleanup run", "gc", "replication"])
        done = threading.Event()

        def guarded() -> None:
            try:
                self.operation(kind)
            except (httpx.HTTPError, w.PushRefused):
                pass  # the kill cut it off: nothing was acknowledged
            finally:
                done.set()

        worker = threading.Thread(target=guarded, name=f"fault-{kind}", daemon=True)
        background = threading.Thread(target=self.keep_pushing, name="fault-load", daemon=True)
        self.acknowledged.clear()
        background.start()
        # Something acknowledged in every round (a push is often slower than the delays).
        self.acknowledged.wait(5)
        worker.start()
        if kind in ("push", "delete"):
            done.wait(self.rng.uniform(0.0, 0.5 if kind == "push" else 0.1))
        else:
            done.wait(10)
            time.sleep(self.rng.uniform(0.0, 0.05))
        self.node.server.kill()
        worker.join(30)
        background.join(30)
        self.verdict.kills[kind] += 1
        findings, statuses = self.node.while_down(list(self.ledger.runs))
        self.ledger.interrupted.update(p for p, s in statuses.items() if s in UNFINISHED)
        self.verdict.orphans_after_kills += len(findings) - len(serious(findings))
        self.verdict.fsck_failures += serious(findings)
        self.node.restart()
        self.check()

    def check(self) -> None:
        """After the restart: nothing acknowledged lost, deleted manifests still gone. A run
        cut short at two kills already is let finish before the next kill: a third would be
        its job's last attempt (`max_attempts`), after which it is given up by design."""
        with self.node.clients() as (pusher, rest):
            twice = [p for p, n in self.ledger.interrupted.items() if n >= MAX_KILLS_PER_RUN]
            w.wait_finished(rest, twice, timeout=30)
            self.verdict.verified, losses = w.verify_all([pusher], self.ledger.kept)
            self.verdict.losses += losses
            for image in self.ledger.deleted:
                if pusher.verify(image, by_digest=True) is None:
                    self.verdict.losses.append(f"{image.digest} served again after its DELETE")

    def finish(self, timeout: float) -> None:
        """Every run finished (succeeded), one more collection, then fsck with no finding."""
        with self.node.clients() as (_, rest):
            statuses = w.wait_finished(rest, self.ledger.runs, timeout)
            self.verdict.interrupted_runs = len(self.ledger.interrupted)
            self.verdict.resumed_runs = sum(
                statuses[p] == "succeeded" for p in self.ledger.interrupted
            )
            self.verdict.runs_not_finished += [
                f"{path} {status}" for path, status in statuses.items() if status != "succeeded"
            ]
            time.sleep(1.5)  # past the grace window of the last orphans
            copied = list(self.ledger.kept)
            final = [f"/gc-runs/{self.collect(rest)}", self.replicate(rest, timeout)]
            last = w.wait_finished(rest, final, timeout)
            self.verdict.runs_not_finished += [
                f"{p} {s}" for p, s in last.items() if s != "succeeded"
            ]
        self.verdict.acknowledged = len(self.ledger.kept)
        with self.node.clients() as (pusher, _):
            # `faults/kept` here is `mirror/kept` there: the image name is kept.
            mirrored = [
                replace(i, repository=f"{MIRROR}/{i.repository.split('/', 1)[1]}") for i in copied
            ]
            copies, missing = w.verify_all([pusher], mirrored)
        self.verdict.failures += [f"replicated copy: {m}" for m in missing]
        self.log(f"faults: {copies}/{len(copied)} kept images replicated byte-identical")
        self.verdict.fsck_failures += [
            f"at the end: {f['kind']} {f['subject']}: {f['detail']}" for f in self.node.fsck()
        ]

    def replicate(self, rest: httpx.Client, timeout: float) -> str:
        """Run the replication rule once more, once no run of it is going on."""
        deadline = time.monotonic() + timeout
        while (path := w.start_replication(rest, REGISTRY, self.rule)) is None:
            if time.monotonic() > deadline:
                raise AssertionError("no replication run could start: one stays running")
            time.sleep(0.5)
        return path

    def collect(self, rest: httpx.Client, timeout: float = 30) -> int:
        """Start a collection, once the one running (if any) has ended."""
        deadline = time.monotonic() + timeout
        while (run_id := w.start_gc(rest)) is None:
            if time.monotonic() > deadline:
                raise AssertionError("no garbage collection could start: one stays running")
            time.sleep(0.5)
        return run_id


def kill_rounds(options: FaultOptions, workdir: Path, verdict: FaultVerdict, log: Log) -> None:
    node = Node(workdir / "kills", ENV)
    try:
        rounds = Rounds(node, verdict, options.seed, log)
        rounds.setup()
        started = time.monotonic()
        for index in range(options.kills):
            rounds.round()
            if (index + 1) % 10 == 0:
                log(f"faults: {index + 1} kills in {time.monotonic() - started:.0f} s")
        rounds.finish(timeout=60)
        log(f"faults: {options.kills} kills done in {time.monotonic() - started:.0f} s")
    finally:
        node.stop()
    verdict.server_errors += node.tally.server_errors


# --- PostgreSQL restarted under load -----------------------------------------------------------


class Load(threading.Thread):
    """Pushes and pulls in a loop until stopped; what it was answered goes to the tally."""

    def __init__(self, node: Node, content: w.Content, ledger: list[w.Image], seed: int):
        super().__init__(name=f"load-{seed}", daemon=True)
        self.node, self.content, self.ledger = node, content, ledger
        self.rng = random.Random(seed)
        self.stopping = threading.Event()
        self.seed = seed

    def run(self) -> None:
        with self.node.clients() as (pusher, _):
            count = 0
            while not self.stopping.is_set():
                count += 1
                image, blobs = self.content.build(
                    f"{REGISTRY}/load-{self.seed}", f"t{count}", self.rng
                )
                try:
                    if pusher.push(image, blobs):
                        self.ledger.append(image)
                    if self.ledger:
                        pusher.verify(self.rng.choice(self.ledger))
                except (httpx.HTTPError, w.PushRefused):
                    time.sleep(0.05)


def postgres_restarts(
    options: FaultOptions, workdir: Path, verdict: FaultVerdict, log: Log
) -> None:
    missing = PrivatePostgres.available()
    if missing:
        log(f"faults: PostgreSQL restarts skipped: {missing}")
        verdict.failures.append(f"PostgreSQL restarts could not run: {missing}")
        return
    with ExitStack() as stack:
        postgres = PrivatePostgres()
        stack.callback(postgres.stop)
        postgres.start()
        node = Node(workdir / "pg-node", ENV, postgres.url)
        stack.callback(node.stop)
        with node.clients() as (_, rest):
            w.create_registry(rest, REGISTRY)
        content, kept = w.Content(4, 128 * KiB, options.seed), []
        loads = [Load(node, content, kept, seed) for seed in range(3)]
        for load in loads:
            load.start()
        for _ in range(options.postgres_restarts):
            time.sleep(1.5)
            before = Counter(node.tally.statuses)
            postgres.restart(down_seconds=1.0)
            time.sleep(1.5)  # requests keep coming while connections are made again
            verdict.postgres_restarts += 1
            verdict.statuses_while_down += Counter(
                {s: n for s, n in (node.tally.statuses - before).items() if s >= 500}
            )
        for load in loads:
            load.stopping.set()
        for load in loads:
            load.join(60)
        with node.clients() as (pusher, _):
            verified, losses = w.verify_all([pusher], kept)
        verdict.acknowledged += len(kept)
        verdict.verified += verified
        verdict.losses += losses
        node.stop()
        verdict.fsck_failures += [f"after PostgreSQL restarts: {f}" for f in serious(node.fsck())]
        verdict.server_errors += [e for e in node.tally.server_errors if "-> 500" in e]
    log(f"faults: PostgreSQL restarted {verdict.postgres_restarts}× under load")


# --- a full disk -------------------------------------------------------------------------------


def full_disk(options: FaultOptions, workdir: Path, verdict: FaultVerdict, log: Log) -> None:
    disk = SmallDisk(workdir / "small-disk", 48)
    why = disk.mount()
    if why:
        verdict.full_disk = f"skipped ({why})"
        log(f"faults: full disk skipped: {why}")
        return
    try:
        node = Node(disk.path / "data", ENV)
        try:
            verdict.full_disk = fill_and_recover(node, options.seed, disk.path, 10)
        finally:
            node.stop()
        verdict.server_errors += [e for e in node.tally.server_errors if "-> 500" in e]
    finally:
        disk.unmount()
    if verdict.full_disk.startswith("FAIL"):
        verdict.failures.append(f"full disk: {verdict.full_disk}")
    log(f"faults: full disk: {verdict.full_disk}")


def fill_and_recover(node: Node, seed: int, mount: Path, free_mib: int) -> str:
    """Take all but `free_mib` of the disk with a file, push until refused for want of space,
    remove the file (the space an operator frees), push again; restart; fsck."""
    content, kept = w.Content(2, 1024 * KiB, seed), []
    rng = random.Random(seed)
    filler = mount / "filler"
    usage = shutil.disk_usage(mount)
    with filler.open("wb") as out:
        out.write(b"\0" * max(0, usage.free - free_mib * 1024 * 1024))
    refusals: Counter[int] = Counter()
    with node.clients() as (pusher, rest):
        w.create_registry(rest, REGISTRY)
        for count in range(400):
            image, blobs = content.build(f"{REGISTRY}/full", f"t{count}", rng)
            before = Counter(node.tally.statuses)
            with suppress(w.PushRefused):
                if pusher.push(image, blobs):
                    kept.append(image)
                    continue
            answered = node.tally.statuses - before  # of the push that did not make it
            refusals += Counter({s: n for s, n in answered.items() if s >= 400 and s != 404})
            if sum(refusals.values()) >= 5:
                break
        filler.unlink()
        image, blobs = content.build(f"{REGISTRY}/full", "after", rng)
        recovered = pusher.push(image, blobs)
        if recovered:
            kept.append(image)
    node.restart()
    with node.clients() as (pusher, _):
        verified, losses = w.verify_all([pusher], kept)
    findings = serious(node.fsck())
    refused = ", ".join(f"{n}× {s}" for s, n in sorted(refusals.items()))
    ok = recovered and not losses and not findings and verified == len(kept)
    return (
        f"{'PASS' if ok else 'FAIL'} ({len(kept)} images acknowledged, {verified} re-pulled, "
        f"refused with {refused or 'nothing'}, push after freeing space "
        f"{'acknowledged' if recovered else 'refused'}"
        + (f", {losses[:3]}" if losses else "")
        + (f", fsck: {findings[:3]}" if findings else "")
        + ")"
    )


# --- the whole run -----------------------------------------------------------------------------


def run(options: FaultOptions, workdir: Path, log: Log = print) -> FaultVerdict:
    verdict = FaultVerdict(options)
    kill_rounds(options, workdir, verdict, log)
    if options.postgres_restarts:
        postgres_restarts(options, workdir, verdict, log)
    if options.full_disk:
        full_disk(options, workdir, verdict, log)
    return verdict


def report(verdict: FaultVerdict, log: Log = print) -> None:
    for problem in [
        *verdict.losses,
        *verdict.fsck_failures,
        *verdict.runs_not_finished,
        *verdict.server_errors,
        *verdict.failures,
    ][:50]:
        log(f"  problem: {problem}")
    log(f"  {verdict.orphans_after_kills} orphan objects seen by fsck after kills (collected)")
    log(verdict.line())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/faults", description=__doc__.split("\n\n")[0])
    parser.add_argument("--long", action="store_true", help="200 kills, 10 PostgreSQL restarts")
    parser.add_argument("--kills", type=int, help="SIGKILLs (20; 200 with --long)")
    parser.add_argument("--postgres-restarts", type=int, help="(2; 10 with --long)")
    parser.add_argument("--no-full-disk", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, help="keep the servers' data here")
    args = parser.parse_args(argv)
    options = FaultOptions(
        kills=args.kills if args.kills is not None else (200 if args.long else 20),
        seed=args.seed,
        postgres_restarts=(
            args.postgres_restarts
            if args.postgres_restarts is not None
            else (10 if args.long else 2)
        ),
        full_disk=not args.no_full_disk,
    )
    with ExitStack() as stack:
        workdir = args.workdir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="faults-"))
        )
        verdict = run(options, workdir)
    report(verdict)
    return 0 if verdict.passed else 1


if __name__ == "__main__":
    sys.exit(main())
