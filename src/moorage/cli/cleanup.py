"""`moorage cleanup run REGISTRY [--dry-run]` with progress, and `moorage cleanup history
REGISTRY`. Locally a run happens in this process; on a server it is queued there and
followed until it ends. Either way the run is the API's (`RunDetailOut`)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any, Protocol

from moorage.cli.output import (
    Column,
    emit,
    emit_items,
    emit_one,
    joined,
    short_digest,
    when,
    yes_no,
)
from moorage.cli.remote import RemoteApi, segment
from moorage.cli.target import Group, every_page
from moorage.wiring import Container

ShowProgress = Callable[[int, int, str], None]
"""(images done, images in all, the image at hand)"""
FINISHED = ("succeeded", "failed")
POLL_SECONDS = 0.5


class Cleanup(Protocol):
    def run(self, registry: str, dry_run: bool, progress: ShowProgress) -> dict[str, Any]:
        """Carry out a run (a test run: `dry_run`) and return it with its tasks."""

    def history(self, registry: str) -> list[dict[str, Any]]: ...


class LocalCleanup:
    def __init__(self, container: Container) -> None:
        self._runs = container.cleanup_runs

    def run(self, registry: str, dry_run: bool, progress: ShowProgress) -> dict[str, Any]:
        from moorage.api.rest.policies import RunDetailOut, TaskOut, _run

        execution = self._runs.start(registry, dry_run=dry_run, enqueue=False)
        self._runs.run(execution.id, progress)
        detail = self._runs.detail(registry, execution.id)
        tasks = [
            TaskOut(
                image=t.subject,
                status=t.status,
                started_at=t.started_at,
                finished_at=t.finished_at,
                artifacts=t.lines,
            )
            for t in detail.tasks
        ]
        run = RunDetailOut(**_run(detail.execution).model_dump(), tasks=tasks)
        return run.model_dump(mode="json")

    def history(self, registry: str) -> list[dict[str, Any]]:
        from moorage.api.rest.policies import _run

        found = every_page(lambda page: self._runs.history(registry, page.page, page.page_size))
        return [_run(e).model_dump(mode="json") for e in found]


class RemoteCleanup:
    def __init__(self, api: RemoteApi) -> None:
        self._api = api

    def run(self, registry: str, dry_run: bool, progress: ShowProgress) -> dict[str, Any]:
        runs = f"/registries/{segment(registry)}/cleanup-runs"
        started = self._api.post(runs, {"dry_run": dry_run})
        while True:
            detail: dict[str, Any] = self._api.get(f"{runs}/{started['id']}")
            tasks = detail["tasks"]
            progress(
                len(tasks), detail["counts"].get("images", 0), tasks[-1]["image"] if tasks else ""
            )
            if detail["status"] in FINISHED:
                return detail
            time.sleep(POLL_SECONDS)

    def history(self, registry: str) -> list[dict[str, Any]]:
        return self._api.items(f"/registries/{segment(registry)}/cleanup-runs")


CLEANUP: Group[Cleanup] = Group(LocalCleanup, RemoteCleanup)


def _tally(counts: dict[str, int]) -> str:
    return "/".join(str(counts.get(k, 0)) for k in ("deleted", "kept", "protected"))


HISTORY_COLUMNS = (
    Column("id", "run"),
    Column("trigger"),
    Column("dry_run", "test", yes_no),
    Column("status"),
    Column("counts", "deleted/kept/protected", _tally),
    Column("created_at", "created", when),
)


def run(args: argparse.Namespace, cleanup: Cleanup) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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
            bar.update(task, completed=done, total=total or None, image=image)

        finished = cleanup.run(args.registry, args.dry_run, progress)
    lines = [{"image": t["image"], **line} for t in finished["tasks"] for line in t["artifacts"]]
    if args.json:
        # The run as GET cleanup-runs/{id} returns it, and its lines in one list.
        emit_one({**finished, "artifacts": lines}, as_json=True)
        return 0 if finished["status"] == "succeeded" else 1
    rows = [
        {
            "image": line["image"],
            "digest": short_digest(str(line["digest"])),
            "tags": joined(line["tags"]),
            "verdict": line["verdict"],
            "why": _why(line),
        }
        for line in lines
    ]
    emit(rows, ["image", "digest", "tags", "verdict", "why"], as_json=False)
    counts = finished["counts"]
    print(
        f"run {finished['id']} {finished['status']}: {counts.get('deleted', 0)} "
        f"{'would be ' if finished['dry_run'] else ''}deleted, {counts.get('kept', 0)} kept, "
        f"{counts.get('protected', 0)} protected, {counts.get('failed', 0)} failed"
    )
    return 0 if finished["status"] == "succeeded" else 1


def history(args: argparse.Namespace, cleanup: Cleanup) -> int:
    emit_items(cleanup.history(args.registry), HISTORY_COLUMNS, as_json=args.json)
    return 0


def _why(line: dict[str, Any]) -> str:
    """The policy behind a verdict, named by what it selects: policy ids are global, not a
    number within the registry. Lines recorded before runs described their policies say
    only which kind of policy it was."""
    if line.get("protected_by") is not None:
        return _policy_named("protection", line.get("protected_by_policy"))
    kept_by = line.get("kept_by") or []
    if kept_by and isinstance(kept_by, list):
        described = line.get("kept_by_policies") or []
        if not described:
            return _policy_named("cleanup", None)
        return "; ".join(_policy_named("cleanup", str(d)) for d in described)
    return str(line.get("error") or "")


def _policy_named(kind: str, selectors: object) -> str:
    return f"the {kind} policy on {selectors}" if selectors else f"a {kind} policy"


def add_commands(
    common: argparse.ArgumentParser,
    group: Callable[[str, str], argparse._SubParsersAction[argparse.ArgumentParser]],
) -> None:
    cleanup = group("cleanup", "image cleanup")
    p = cleanup.add_parser("run", parents=[common], help="run the registry's cleanup now")
    p.add_argument("registry")
    p.add_argument("--dry-run", action="store_true", help="a test run: delete nothing")
    p.set_defaults(run=run, group=CLEANUP)
    p = cleanup.add_parser("history", parents=[common], help="past runs, newest first")
    p.add_argument("registry")
    p.set_defaults(run=history, group=CLEANUP)
