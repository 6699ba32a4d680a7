"""`moorage cleanup run REGISTRY [--dry-run]`: a cleanup run in this process, with progress."""

from __future__ import annotations

import argparse

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from moorage.cli.output import emit, emit_one
from moorage.wiring import Container


def run(args: argparse.Namespace, container: Container) -> int:
    service = container.cleanup_runs
    execution = service.start(args.registry, dry_run=args.dry_run, enqueue=False)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[image]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, disable=args.json, transient=True) as bar:
        label = "test run" if args.dry_run else "cleanup"
        task = bar.add_task(label, total=None, image="")

        def progress(done: int, total: int, image: str) -> None:
            bar.update(task, completed=done, total=total, image=image)

        finished = service.run(execution.id, progress)
    detail = service.detail(args.registry, finished.id)
    if args.json:
        lines = [{"image": t.subject, **line} for t in detail.tasks for line in t.lines]
        emit_one(
            {
                "run": finished.id,
                "dry_run": finished.dry_run,
                "status": finished.status,
                "counts": finished.counts,
                "artifacts": lines,
            },
            as_json=True,
        )
        return 0
    rows = [
        {
            "image": t.subject,
            "digest": line["digest"][:19],
            "tags": ",".join(line["tags"]),
            "verdict": line["verdict"],
            "why": _why(line),
        }
        for t in detail.tasks
        for line in t.lines
    ]
    emit(rows, ["image", "digest", "tags", "verdict", "why"], as_json=False)
    counts = finished.counts
    print(
        f"run {finished.id} {finished.status}: {counts.get('deleted', 0)} "
        f"{'would be ' if finished.dry_run else ''}deleted, {counts.get('kept', 0)} kept, "
        f"{counts.get('protected', 0)} protected, {counts.get('failed', 0)} failed"
    )
    return 0 if finished.status == "succeeded" else 1


def _why(line: dict[str, object]) -> str:
    if line.get("protected_by") is not None:
        return f"protection policy {line['protected_by']}"
    kept_by = line.get("kept_by") or []
    if kept_by and isinstance(kept_by, list):
        return "cleanup policy " + ", ".join(str(p) for p in kept_by)
    return str(line.get("error") or "")
