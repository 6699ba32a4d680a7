"""`moorage gc run|history|schedule` and `moorage fsck`: garbage collection in this process,
with a progress line per phase on a terminal; the rules live in `moorage.domain.gc`."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from typing import Any

import anyio

from moorage.cli.output import emit, emit_one, human_bytes
from moorage.domain.gc.model import GcRun
from moorage.domain.kernel.model import PageRequest
from moorage.wiring import Container


def _progress(enabled: bool) -> Any:
    def show(phase: str, done: int) -> None:
        print(f"  {phase}: {done}", file=sys.stderr, flush=True)

    return show if enabled else None


def _row(run: GcRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "trigger": run.trigger,
        "dry_run": run.dry_run,
        "delete_untagged": run.delete_untagged,
        "status": run.status,
        **asdict(run.counts),
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
    }


def run(args: argparse.Namespace, container: Container) -> int:
    """Record a run and carry it out here (not on the queue), like `cleanup run`."""
    service = container.gc
    started = service.start_run(
        dry_run=args.dry_run, delete_untagged=args.delete_untagged, enqueue=False
    )
    show = _progress(not args.json and sys.stderr.isatty())
    finished = anyio.run(service.run, started.id, show)
    if args.json:
        emit_one({**_row(finished), "log": finished.log}, as_json=True)
    else:
        for line in finished.log:
            print(line)
        c = finished.counts
        verb = "would free" if finished.dry_run else "freed"
        print(
            f"run {finished.id} {finished.status}: {c.blobs_deleted} blobs, "
            f"{c.manifests_deleted} manifests, {verb} {human_bytes(c.bytes_freed)}, "
            f"{c.errors} errors"
        )
    return 0 if finished.status == "succeeded" else 1


def history(args: argparse.Namespace, container: Container) -> int:
    page = container.gc.list_runs(PageRequest(1, args.limit))
    columns = ["id", "trigger", "dry_run", "status", "blobs_deleted", "manifests_deleted"]
    emit([_row(r) for r in page.items], [*columns, "bytes_freed", "created_at"], as_json=args.json)
    return 0


def schedule(args: argparse.Namespace, container: Container) -> int:
    service = container.gc
    if args.off:
        service.set_schedule(None)
    elif args.cron is not None:
        service.set_schedule(args.cron)
    found = service.get_schedule()
    totals = service.storage_totals()
    row: dict[str, Any] = {
        "cron": found.cron if found else None,
        "next_run_at": found.next_run_at if found else None,
        "stored_bytes": totals.stored_bytes,
        "unreferenced_bytes": totals.unreferenced_bytes,
    }
    if not args.json:
        row["stored_bytes"] = human_bytes(totals.stored_bytes)
        row["unreferenced_bytes"] = human_bytes(totals.unreferenced_bytes)
    emit_one(row, as_json=args.json)
    return 0


def fsck(args: argparse.Namespace, container: Container) -> int:
    show = _progress(not args.json and sys.stderr.isatty())

    async def check() -> Any:
        return await container.fsck.check(
            repair=args.repair, verify_digests=args.verify_digests, progress=show
        )

    report = anyio.run(check)
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
