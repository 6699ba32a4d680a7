"""The soak run (scripts/soak, tests/e2e/test_soak.py): N clients for T seconds against one
node (SQLite) or two (PostgreSQL and S3 on moto), then every acknowledged image pulled back
and `moorage fsck`, ending in one verdict line.

Each client loops over a weighted mix: push an image to keep (`keep-<client>`), push one
meant to go (`churn-<client>`, where a cleanup policy keeps only the latest few), pull and
check a kept image from any node, list tags, delete a churn image, and now and then start a
cleanup run or a garbage collection (untagged manifests too) through the REST API. Garbage
collection's grace window is 2 seconds, so collection really races the pushes of shared
layers. Every response is counted; the run passes with no 5xx, every kept image pulled back
byte for byte from every node, and fsck clean.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support import workload as w
from tests.support.cluster import endpoint, peak_rss, shared_nodes, sqlite_node
from tests.support.server import ServerProcess

REGISTRY = "soak"
CHURN_KEPT = 3  # the cleanup policy keeps this many churn artifacts per image
ENV = {"MOORAGE_GC_GRACE_SECONDS": "2", "MOORAGE_LOG_LEVEL": "error"}
MiB = 1024 * 1024


@dataclass(frozen=True)
class SoakOptions:
    clients: int = 4
    seconds: float = 30.0
    nodes: int = 1  # 1: SQLite, filesystem; 2: PostgreSQL and S3 (moto)
    seed: int = 1
    max_layer: int = 512 * 1024


@dataclass
class Verdict:
    options: SoakOptions
    requests: int = 0
    errors_5xx: int = 0
    acknowledged: int = 0
    verified: int = 0
    fsck_clean: bool = False
    peak_rss: int = 0
    problems: list[str] = field(default_factory=list)
    notes: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return (
            self.errors_5xx == 0
            and self.verified == self.acknowledged
            and self.fsck_clean
            and not self.problems
        )

    def line(self) -> str:
        o = self.options
        where = "1 node (SQLite)" if o.nodes == 1 else f"{o.nodes} nodes (PostgreSQL + S3)"
        during = f"{o.seconds:g} s" if o.seconds < 60 else f"{o.seconds / 60:g} min"
        return (
            f"soak {'PASS' if self.passed else 'FAIL'}: {where}, {o.clients} clients × "
            f"{during}: {self.requests} requests, {self.errors_5xx} 5xx, "
            f"{self.verified}/{self.acknowledged} acknowledged images re-pulled "
            f"byte-identical, fsck {'clean' if self.fsck_clean else 'NOT clean'}, "
            f"peak RSS {self.peak_rss / MiB:.0f} MiB"
        )


class Client(threading.Thread):
    """One client: its own HTTP connections to one node, looping over the mix until the end."""

    def __init__(
        self,
        index: int,
        endpoints: Sequence[w.Endpoint],
        content: w.Content,
        ledger: w.Ledger,
        tally: w.Tally,
        until: float,
        seed: int,
    ) -> None:
        super().__init__(name=f"soak-client-{index}", daemon=True)
        self.index = index
        self.home = endpoints[index % len(endpoints)]
        self.endpoints = endpoints
        self.content = content
        self.ledger = ledger
        self.tally = tally
        self.until = until
        self.rng = random.Random(seed * 1000 + index)
        self.pushed = 0
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            with ExitStack() as stack:
                v2, rest = stack.enter_context(w.clients(self.home, self.tally))
                readers = [stack.enter_context(e.v2(self.tally)) for e in self.endpoints]
                self.pusher = w.Pusher(v2, self.tally, self.rng)
                self.readers = [w.Pusher(c, self.tally, self.rng) for c in readers]
                self.rest = rest
                mix: list[tuple[Callable[[], None], int]] = [
                    (lambda: self.push(keep=True), 25),
                    (lambda: self.push(keep=False), 15),
                    (self.pull, 25),
                    (self.list_tags, 15),
                    (self.delete, 12),
                    (self.cleanup, 2),
                    (self.collect, 2),
                ]
                operations, weights = zip(*mix, strict=True)
                while time.monotonic() < self.until:
                    self.rng.choices(operations, weights)[0]()
        except BaseException as exc:  # reported in the verdict, never swallowed
            self.failure = exc

    def push(self, keep: bool) -> None:
        self.pushed += 1
        repository = f"{REGISTRY}/{'keep' if keep else 'churn'}-{self.index}"
        image, blobs = self.content.build(repository, f"t{self.pushed}", self.rng)
        mount_from = f"{REGISTRY}/keep-{self.rng.randrange(self.index + 1)}"
        try:
            acknowledged = self.pusher.push(
                image, blobs, mount_from if self.rng.random() < 0.3 else None
            )
        except w.PushRefused as refused:
            self.tally.note(f"push refused: {str(refused).split(':')[0]}")
            return
        if acknowledged:
            self.ledger.acknowledged(image, keep)

    def pull(self) -> None:
        image = self.ledger.any_kept(self.rng)
        if image is not None:
            problem = self.rng.choice(self.readers).verify(image, self.rng.random() < 0.5)
            if problem:
                self.tally.note(f"pull during the run: {problem}")

    def list_tags(self) -> None:
        repository = f"{REGISTRY}/{self.rng.choice(['keep', 'churn'])}-{self.index}"
        self.pusher.tags(repository)

    def delete(self) -> None:
        image = self.ledger.take_doomed(self.rng)
        if image is not None and self.pusher.delete(image) == 202:
            self.ledger.gone(image)
            self.tally.note("churn images deleted by DELETE")

    def cleanup(self) -> None:
        if w.start_cleanup(self.rest, REGISTRY) is not None:
            self.tally.note("cleanup runs started")

    def collect(self) -> None:
        started = w.start_gc(self.rest)
        self.tally.note("gc runs started" if started else "gc runs refused: one was running")


def fsck(server: ServerProcess) -> tuple[bool, list[str]]:
    """`moorage fsck --json` on the node's data: clean, and what it found otherwise."""
    proc = server.cli("fsck", "--json", check=False)
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        return False, [f"fsck failed ({proc.returncode}): {proc.stderr[-2000:]}"]
    findings = [f"{f['kind']} {f['subject']}: {f['detail']}" for f in report["findings"]]
    return bool(report["clean"]), findings


def settle(rest: httpx.Client, v: Verdict, timeout: float = 120) -> None:
    """Wait until no cleanup or garbage-collection run is queued or running; a run that
    failed is a problem. What the collections deleted goes into the notes."""
    paths = [f"/gc-runs/{r['id']}" for r in w.every_page(rest, "/gc-runs")]
    runs = w.every_page(rest, f"/registries/{REGISTRY}/cleanup-runs")
    paths += [f"/registries/{REGISTRY}/cleanup-runs/{r['id']}" for r in runs]
    statuses = w.wait_finished(rest, paths, timeout)
    v.problems += [f"{path} {status}" for path, status in statuses.items() if status != "succeeded"]
    collected = [rest.get(path).json() for path in paths if path.startswith("/gc-runs/")]
    for key in ("blobs_deleted", "manifests_deleted"):
        v.notes[f"gc runs: {key.replace('_', ' ')}"] = sum(int(r[key]) for r in collected)


def check(nodes: Sequence[ServerProcess], ledger: w.Ledger, tally: w.Tally, v: Verdict) -> None:
    """Every kept image from every node, deleted ones gone, runs settled; then RSS."""
    images = ledger.snapshot()
    v.acknowledged = len(images)
    with ExitStack() as stack:
        readers = [
            w.Pusher(stack.enter_context(endpoint(server).v2(tally)), tally, random.Random())
            for server in nodes
        ]
        v.verified, problems = w.verify_all(readers, images)
        v.problems += problems
        for image in ledger.deleted:
            if readers[0].verify(image, by_digest=True) is None:
                v.problems.append(f"{image.repository}@{image.digest} still served after DELETE")
        settle(stack.enter_context(endpoint(nodes[0]).rest(tally)), v)
    v.peak_rss = max(peak_rss(server) for server in nodes)


def run(options: SoakOptions, workdir: Path, log: Callable[[str], None] = print) -> Verdict:
    verdict = Verdict(options)
    tally = w.Tally()
    start = sqlite_node if options.nodes == 1 else shared_nodes
    with start(workdir, ENV) as nodes:
        with endpoint(nodes[0]).rest(tally) as rest:
            w.create_registry(rest, REGISTRY)
            w.add_cleanup_policy(rest, REGISTRY, "churn-*", CHURN_KEPT)
        content = w.Content(8, options.max_layer, options.seed)
        ledger = w.Ledger()
        until = time.monotonic() + options.seconds
        endpoints = [endpoint(n) for n in nodes]
        clients = [
            Client(i, endpoints, content, ledger, tally, until, options.seed)
            for i in range(options.clients)
        ]
        log(f"soak: {options.clients} clients on {len(nodes)} node(s) for {options.seconds:g} s")
        for client in clients:
            client.start()
        for client in clients:
            client.join()
            if client.failure is not None:
                verdict.problems.append(f"{client.name} stopped: {client.failure!r}")
        log(f"soak: checking {len(ledger.kept)} acknowledged images on every node")
        check(nodes, ledger, tally, verdict)
        for node in nodes:
            node.stop()
        log("soak: moorage fsck")
        verdict.fsck_clean, findings = fsck(nodes[0])
        verdict.problems += findings
    verdict.requests, verdict.errors_5xx = tally.requests, tally.errors_5xx
    verdict.problems += tally.server_errors[:50]
    verdict.notes.update(tally.notes)
    return verdict


def report(verdict: Verdict, log: Callable[[str], None] = print) -> None:
    for note, count in sorted(verdict.notes.items()):
        log(f"  {count} × {note}")
    for problem in verdict.problems[:50]:
        log(f"  problem: {problem}")
    log(verdict.line())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/soak", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--long", action="store_true", help="8 clients × 10 minutes per mode")
    parser.add_argument("--clients", type=int, help="clients at once (4; 8 with --long)")
    parser.add_argument("--minutes", type=float, help="per mode (0.33; 10 with --long)")
    parser.add_argument("--nodes", choices=("1", "2", "both"), default="both")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, help="keep the servers' data here")
    args = parser.parse_args(argv)
    clients = args.clients or (8 if args.long else 4)
    minutes = args.minutes or (10 if args.long else 1 / 3)
    modes = (1, 2) if args.nodes == "both" else (int(args.nodes),)
    verdicts = []
    for nodes in modes:
        options = SoakOptions(clients, minutes * 60, nodes, args.seed)
        with ExitStack() as stack:
            workdir = args.workdir / f"nodes-{nodes}" if args.workdir else None
            if workdir is None:
                workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="soak-")))
            verdicts.append(run(options, workdir))
            report(verdicts[-1])
    return 0 if all(v.passed for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
