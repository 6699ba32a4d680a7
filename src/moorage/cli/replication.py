"""`moorage replication list|run|history REGISTRY [RULE]`: a registry's replication rules,
a run by hand followed with a progress bar until it ends (or not, with `--no-wait`), and the
history of runs. Locally through the services, on a server through the REST API; either way
rules, runs and tasks are the API's (`RuleOut`, `RunOut`, `TaskOut`). A rule is named by its
name or its id."""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import anyio

from moorage.cli.output import Column, emit_items, emit_one, human_bytes, when, yes_no
from moorage.cli.remote import RemoteApi, segment
from moorage.cli.target import Group, every_page
from moorage.domain.kernel.errors import DomainError, NotFound
from moorage.domain.kernel.model import Page
from moorage.domain.replication.service import ReplicationService
from moorage.wiring import Container

FINISHED = ("succeeded", "failed", "stopped")
POLL_SECONDS = 0.5


class Replication(Protocol):
    """A registry's rules and runs, as the REST API shows them (JSON objects)."""

    def rules(self, registry: str) -> list[dict[str, Any]]: ...
    def start(self, registry: str, rule_id: int, wait: bool) -> dict[str, Any]:
        """Queue a run; `wait`: the caller follows it to its end."""

    def run(self, registry: str, run_id: int) -> dict[str, Any]: ...
    def tasks(self, registry: str, run_id: int) -> list[dict[str, Any]]: ...
    def runs(self, registry: str, rule_id: int) -> list[dict[str, Any]]:
        """The rule's runs, newest first."""


def _pages(fetch: Callable[[int, int], Page[Any]], out: Callable[[Any], Any]) -> list[Any]:
    """Every item of a listing the service pages by offset and limit, as the API's JSON."""
    found = every_page(lambda page: fetch(page.offset, page.page_size))
    return [out(item).model_dump(mode="json") for item in found]


class LocalReplication:
    """On local data. A run followed to its end is carried out in this process, like
    `cleanup run` (in a thread, while this one reads its progress); with `--no-wait` it is
    only queued, for a `serve` or `worker` on the same data."""

    def __init__(self, container: Container) -> None:
        self._service: ReplicationService = container.replication
        self._runner = container.replication_runs
        self._workers: dict[int, _Worker] = {}

    def rules(self, registry: str) -> list[dict[str, Any]]:
        from moorage.api.rest.replication import rule_out

        return _pages(lambda o, n: self._service.list_rules(registry, o, n), rule_out)

    def start(self, registry: str, rule_id: int, wait: bool) -> dict[str, Any]:
        from moorage.api.rest.replication import run_out

        run = self._service.start_run(registry, rule_id, None)
        if wait:
            # Its queued job finds the run finished and does nothing.
            self._workers[run.id] = _Worker(lambda: anyio.run(self._runner.run, run.id))
        return run_out(run).model_dump(mode="json")

    def run(self, registry: str, run_id: int) -> dict[str, Any]:
        from moorage.api.rest.replication import run_out

        found = run_out(self._service.get_run(registry, run_id)).model_dump(mode="json")
        worker = self._workers.get(run_id)
        if worker is not None and not worker.alive():
            worker.raise_failure()
            if found["status"] not in FINISHED:
                raise DomainError(f"replication run {run_id} ended without finishing")
        return found

    def tasks(self, registry: str, run_id: int) -> list[dict[str, Any]]:
        from moorage.api.rest.replication import task_out

        return _pages(lambda o, n: self._service.list_tasks(registry, run_id, o, n), task_out)

    def runs(self, registry: str, rule_id: int) -> list[dict[str, Any]]:
        from moorage.api.rest.replication import run_out

        return _pages(lambda o, n: self._service.list_runs(registry, rule_id, o, n), run_out)


class _Worker:
    """A run carried out in a thread of its own; its failure, if any, kept for the reader."""

    def __init__(self, work: Callable[[], None]) -> None:
        self._failure: BaseException | None = None

        def target() -> None:
            try:
                work()
            except BaseException as exc:  # told to the reader, never lost in the thread
                self._failure = exc

        self._thread = threading.Thread(target=target, name="replication-run", daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def raise_failure(self) -> None:
        if self._failure is not None:
            raise DomainError(f"the run failed here: {self._failure}") from self._failure


class RemoteReplication:
    def __init__(self, api: RemoteApi) -> None:
        self._api = api

    @staticmethod
    def _rules(registry: str) -> str:
        return f"/registries/{segment(registry)}/replications"

    def rules(self, registry: str) -> list[dict[str, Any]]:
        return self._api.items(self._rules(registry))

    def start(self, registry: str, rule_id: int, wait: bool) -> dict[str, Any]:
        return dict(self._api.post(f"{self._rules(registry)}/{rule_id}/runs"))

    def run(self, registry: str, run_id: int) -> dict[str, Any]:
        return dict(self._api.get(f"{self._rules(registry)}/runs/{run_id}"))

    def tasks(self, registry: str, run_id: int) -> list[dict[str, Any]]:
        return self._api.items(f"{self._rules(registry)}/runs/{run_id}/tasks")

    def runs(self, registry: str, rule_id: int) -> list[dict[str, Any]]:
        return self._api.items(f"{self._rules(registry)}/{rule_id}/runs")


REPLICATION: Group[Replication] = Group(LocalReplication, RemoteReplication)


def find_rule(replication: Replication, registry: str, name_or_id: str) -> dict[str, Any]:
    """The rule named `name_or_id` (a name first: a rule may be named "12"), else by id."""
    rules = replication.rules(registry)
    for rule in rules:
        if rule["name"] == name_or_id:
            return rule
    for rule in rules:
        if str(rule["id"]) == name_or_id:
            return rule
    raise NotFound(f"registry {registry!r} has no replication rule {name_or_id!r}")


def _remote(rule: dict[str, Any]) -> str:
    remote = rule["remote"]
    return f"{remote['url']}/{remote['registry']}" if remote["registry"] else str(remote["url"])


def _filters(filters: dict[str, Any]) -> str:
    def one(kind: str) -> str:
        found = filters[kind]
        return f"{kind} {'' if found['include'] else 'not '}{found['pattern']}"

    return ", ".join(one(kind) for kind in ("image", "tag"))


def _tally(counts: dict[str, int]) -> str:
    return "/".join(str(counts.get(key, 0)) for key in ("total", "succeeded", "failed", "skipped"))


RULE_COLUMNS = (
    Column("id"),
    Column("name"),
    Column("direction"),
    Column("remote"),  # as `_remote` words it
    Column("filters", show=_filters),
    Column("trigger"),
    Column("enabled", show=yes_no),
    Column("status"),
)
RUN_COLUMNS = (
    Column("id", "run"),
    Column("rule"),
    Column("trigger"),
    Column("status"),
    Column("counts", "total/ok/failed/skipped", _tally),
    Column("created_at", "created", when),
)
TASK_COLUMNS = (Column("subject", "artifact"), Column("status"), Column("error"))


def list_rules(args: argparse.Namespace, replication: Replication) -> int:
    rules = replication.rules(args.registry)
    if args.json:
        emit_items(rules, RULE_COLUMNS, as_json=True)
        return 0
    rows = [{**rule, "remote": _remote(rule)} for rule in rules]
    emit_items(rows, RULE_COLUMNS, as_json=False)
    return 0


def history(args: argparse.Namespace, replication: Replication) -> int:
    """The runs of one rule, or of every rule of the registry, newest first."""
    if args.rule is None:
        rules = replication.rules(args.registry)
    else:
        rules = [find_rule(replication, args.registry, args.rule)]
    runs = [
        {**run, "rule": rule["name"]}
        for rule in rules
        for run in replication.runs(args.registry, int(rule["id"]))
    ]
    runs.sort(key=lambda run: (str(run["created_at"]), int(run["id"])), reverse=True)
    emit_items(runs, RUN_COLUMNS, as_json=args.json)
    return 0


def run(args: argparse.Namespace, replication: Replication) -> int:
    rule = find_rule(replication, args.registry, args.rule)
    started = replication.start(args.registry, int(rule["id"]), wait=not args.no_wait)
    if args.no_wait:
        if args.json:
            emit_one(started, as_json=True)
        else:
            print(
                f"run {started['id']} of {rule['name']} queued: follow it with "
                f"`moorage replication history {args.registry} {rule['name']}`"
            )
        return 0
    finished = _follow(replication, args.registry, int(started["id"]), not args.json)
    tasks = replication.tasks(args.registry, int(finished["id"]))
    if args.json:
        emit_one({**finished, "rule": rule["name"], "tasks": tasks}, as_json=True)
    else:
        emit_items(tasks, TASK_COLUMNS, as_json=False)
        counts = finished["counts"]
        print(
            f"run {finished['id']} {finished['status']}: {counts['succeeded']} copied, "
            f"{counts['skipped']} skipped, {counts['failed']} failed of {counts['total']}, "
            f"{human_bytes(counts['bytes'])}"
            + (f" ({finished['error']})" if finished.get("error") else "")
        )
    return 0 if finished["status"] == "succeeded" else 1


def _follow(replication: Replication, registry: str, run_id: int, show: bool) -> dict[str, Any]:
    """Ask for the run until it ends, with a bar of the artifacts done out of the total and
    the succeeded / failed / skipped counts beside it (on standard error, gone once it
    ends; only on a terminal)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), disable=not show, transient=True) as bar:
        task = bar.add_task("replication", total=None, counts="")
        while True:
            current = replication.run(registry, run_id)
            counts = current["counts"]
            done = counts["succeeded"] + counts["failed"] + counts["skipped"]
            bar.update(
                task,
                description=f"replication {current['status']}",
                completed=done,
                total=counts["total"] or None,
                counts=f"{counts['succeeded']} ok, {counts['failed']} failed, "
                f"{counts['skipped']} skipped",
            )
            if current["status"] in FINISHED:
                return current
            time.sleep(POLL_SECONDS)


def add_commands(
    common: argparse.ArgumentParser,
    group: Callable[[str, str], argparse._SubParsersAction[argparse.ArgumentParser]],
) -> None:
    replication = group("replication", "replication rules and their runs")
    p = replication.add_parser("list", parents=[common], help="the registry's rules")
    p.add_argument("registry")
    p.set_defaults(run=list_rules, group=REPLICATION)
    p = replication.add_parser(
        "run", parents=[common], help="copy what the rule selects now, with a progress bar"
    )
    p.add_argument("registry")
    p.add_argument("rule", help="the rule's name or id")
    p.add_argument("--no-wait", action="store_true", help="queue the run and return at once")
    p.set_defaults(run=run, group=REPLICATION)
    p = replication.add_parser("history", parents=[common], help="past runs, newest first")
    p.add_argument("registry")
    p.add_argument("rule", nargs="?", help="only this rule's runs (its name or id)")
    p.set_defaults(run=history, group=REPLICATION)
