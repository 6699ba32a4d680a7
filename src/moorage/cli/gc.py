"""`moorage gc run|history|schedule` and `moorage fsck`: garbage collection on local data (in
this process, with a progress line per phase on a terminal) or on a server over the REST API
(`gc` only: fsck reads the blob store itself); the rules live in `moorage.domain.gc`."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from moorage.cli.output import emit, emit_one, human_bytes
from moorage.cli.remote import PAGE_SIZE, RemoteApi
from moorage.cli.target import Group
from moorage.domain.kernel.model import PageRequest
from moorage.wiring import Container

if TYPE_CHECKING:
    from pydantic import BaseModel
    from rich.progress import TaskID

Progress = Callable[[str, int], None]


@contextmanager
def _progress(enabled: bool) -> Iterator[Progress | None]:
    """On a terminal, a progress bar on stderr: a row per phase with its count, pulsing while
    the phase runs (totals are not known ahead) and full once the next phase starts; a
    server's run prints its log lines above it."""
    from rich.console import Console
    from rich.progress import BarColumn, SpinnerColumn, TextColumn
    from rich.progress import Progress as RichProgress

    if not enabled:
        yield None
        return
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description:<28}"),
        BarColumn(),
        TextColumn("{task.fields[count]:>9,}"),
    )
    with RichProgress(*columns, console=Console(stderr=True)) as bar:
        phases: dict[str, TaskID] = {}

        def finish_all() -> None:
            for task in phases.values():
                bar.update(task, total=1, completed=1)

        def show(phase: str, done: int) -> None:
            if done < 0:  # a line of a server's log
                bar.console.print(f"  {phase}")
                return
            if phase not in phases:
                finish_all()  # a new phase: the earlier ones are done
                phases[phase] = bar.add_task(phase, total=None, count=0)
            bar.update(phases[phase], count=done)

        yield show
        finish_all()


class Collector(Protocol):
    """Garbage collection, as the REST API shows it (`GcRunOut`, `StorageOut`)."""

    def run(
        self, dry_run: bool, delete_untagged: bool, progress: Progress | None
    ) -> dict[str, Any]:
        """Carry out a run and return it with its log."""

    def runs(self, limit: int) -> list[dict[str, Any]]: ...
    def schedule(self, cron: str | None, off: bool) -> dict[str, Any]:
        """Set (`cron`) or remove (`off`) the schedule, then return it."""

    def storage(self) -> dict[str, Any]: ...


def _json(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


class LocalCollector:
    """In this process, on the data directory (not on the queue), like `cleanup run`."""

    def __init__(self, container: Container) -> None:
        self._gc = container.gc

    def run(
        self, dry_run: bool, delete_untagged: bool, progress: Progress | None
    ) -> dict[str, Any]:
        from moorage.api.rest.gc import run_detail_out

        started = self._gc.start_run(
            dry_run=dry_run, delete_untagged=delete_untagged, enqueue=False
        )
        return _json(run_detail_out(anyio.run(self._gc.run, started.id, progress)))

    def runs(self, limit: int) -> list[dict[str, Any]]:
        from moorage.api.rest.gc import run_out

        return [_json(run_out(r)) for r in self._gc.list_runs(PageRequest(1, limit)).items]

    def schedule(self, cron: str | None, off: bool) -> dict[str, Any]:
        from moorage.api.rest.schemas import schedule_out

        if off or cron is not None:
            self._gc.set_schedule(None if off else cron)
        return _json(schedule_out(self._gc.get_schedule()))

    def storage(self) -> dict[str, Any]:
        from moorage.api.rest.gc import storage_out

        return _json(storage_out(self._gc.storage_totals()))


class RemoteCollector:
    """On a server: the run is queued there and followed until it ends."""

    POLL_SECONDS = 0.5

    def __init__(self, api: RemoteApi) -> None:
        self._api = api

    def run(
        self, dry_run: bool, delete_untagged: bool, progress: Progress | None
    ) -> dict[str, Any]:
        body = {"dry_run": dry_run, "delete_untagged": delete_untagged}
        run_id = int(self._api.post("/gc-runs", body)["id"])
        shown = 0
        while True:
            run: dict[str, Any] = self._api.get(f"/gc-runs/{run_id}")
            if progress is not None:
                for line in run["log"][shown:]:
                    progress(line, -1)
                shown = len(run["log"])
            if run["status"] in FINISHED:
                return run
            time.sleep(self.POLL_SECONDS)

    def runs(self, limit: int) -> list[dict[str, Any]]:
        return list(self._api.get("/gc-runs", {"page_size": min(limit, PAGE_SIZE)})["items"])

    def schedule(self, cron: str | None, off: bool) -> dict[str, Any]:
        if off:
            self._api.delete("/gc-schedule")
        elif cron is not None:
            self._api.put("/gc-schedule", {"cron": cron})
        return dict(self._api.get("/gc-schedule"))

    def storage(self) -> dict[str, Any]:
        return dict(self._api.get("/storage"))


GC: Group[Collector] = Group(LocalCollector, RemoteCollector)
FINISHED = ("succeeded", "failed")


def run(args: argparse.Namespace, collector: Collector) -> int:
    """Collect garbage now: here on local data, or queued on the server and followed."""
    with _progress(not args.json and sys.stderr.isatty()) as show:
        finished = collector.run(args.dry_run, args.delete_untagged, show)
    if args.json:
        emit_one(finished, as_json=True)
    else:
        for line in finished["log"]:
            print(line)
        verb = "would free" if finished["dry_run"] else "freed"
        print(
            f"run {finished['id']} {finished['status']}: {finished['blobs_deleted']} blobs, "
            f"{finished['manifests_deleted']} manifests, {verb} "
            f"{human_bytes(finished['bytes_freed'])}, {finished['errors']} errors"
        )
    return 0 if finished["status"] == "succeeded" else 1


def history(args: argparse.Namespace, collector: Collector) -> int:
    columns = ["id", "trigger", "dry_run", "status", "blobs_deleted", "manifests_deleted"]
    rows = collector.runs(args.limit)
    emit(rows, [*columns, "bytes_freed", "created_at"], as_json=args.json)
    return 0


def schedule(args: argparse.Namespace, collector: Collector) -> int:
    found = collector.schedule(args.cron, args.off)
    totals = collector.storage()
    row: dict[str, Any] = {
        "cron": found["cron"],
        "next_run_at": found["next_run_at"],
        "stored_bytes": totals["stored_bytes"],
        "unreferenced_bytes": totals["unreferenced_bytes"],
    }
    if not args.json:
        row["stored_bytes"] = human_bytes(totals["stored_bytes"])
        row["unreferenced_bytes"] = human_bytes(totals["unreferenced_bytes"])
    emit_one(row, as_json=args.json)
    return 0


def fsck(args: argparse.Namespace, container: Container) -> int:
    async def check(show: Progress | None) -> Any:
        return await container.fsck.check(
            repair=args.repair, verify_digests=args.verify_digests, progress=show
        )

    with _progress(not args.json and sys.stderr.isatty()) as show:
        report = anyio.run(check, show)
    rows = [asdict(f) for f in report.findings]
    if args.json:
        emit_one(
            {
                "clean": report.clean,
                "blobs_checked": report.blobs_checked,
                "objects_checked": report.objects_checked,
                "findings": rows,
            },
            as_json=True,
        )
    else:
        emit(rows, ["kind", "subject", "detail", "repaired"], as_json=False)
        left = len(report.unrepaired)
        print(
            f"{report.blobs_checked} blobs, {report.objects_checked} objects checked: "
            f"{len(report.findings)} problems"
            + (f", {left} not repaired" if args.repair and left else "")
        )
    if report.clean:
        return 0
    return 1 if not args.repair or report.unrepaired else 0
