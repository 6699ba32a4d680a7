"""Where a command acts: the local services (the composition root's container) or a server's
REST API. A command group declares both ways behind one interface (`Group`); its commands
get that interface and render what it returns, so the same code prints either way."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from moorage.cli.profile import UsageError, remote_connection
from moorage.cli.remote import PAGE_SIZE, ApiRefused, RemoteApi, ServerUnreachable
from moorage.domain.kernel.errors import DomainError
from moorage.domain.kernel.model import Page, PageRequest
from moorage.wiring import Container

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Group(Generic[T]):
    """A command group's two ways to its data, each giving the group's interface."""

    local: Callable[[Container], T]
    remote: Callable[[RemoteApi], T]


def every_page(fetch: Callable[[PageRequest], Page[T]]) -> list[T]:
    """All items of a paged listing, in the API's page size."""
    found: list[T] = []
    number = 1
    while True:
        page = fetch(PageRequest(number, PAGE_SIZE))
        found.extend(page.items)
        if not page.items or len(found) >= page.total:
            return found
        number += 1


def run_local(args: argparse.Namespace, container: Container) -> int:
    """A command of a group gets the group's local side; any other gets the container."""
    group: Group[Any] | None = getattr(args, "group", None)
    if group is None:
        return int(args.run(args, container))
    return int(args.run(args, group.local(container)))


def run_remote(args: argparse.Namespace) -> int | None:
    """Run the command on a server if one is chosen (None: it acts on local data).

    Only commands of a group reach a server; the others (`serve`, `migrate`, `gc`, `fsck`…)
    ignore MOORAGE_SERVER and the profile, and refuse an explicit --server."""
    group: Group[Any] | None = getattr(args, "group", None)
    if group is None:
        if getattr(args, "server", None) is not None:
            raise UsageError(
                f"`{command_name(args)}` works on local data only: "
                "run it where the data is, with --data-dir (or --config)"
            )
        return None
    connection = remote_connection(args)
    if connection is None:
        return None
    with connection.open() as api:
        return int(args.run(args, group.remote(api)))


def command_name(args: argparse.Namespace) -> str:
    return " ".join(str(x) for x in (args.command, getattr(args, "action", None)) if x)


@contextmanager
def one_line_errors() -> Iterator[None]:
    """A refused operation: one line and exit status 1; a command that cannot run as asked
    (usage, an unreachable server): one line and exit status 2. Never a traceback."""
    try:
        yield
    except (DomainError, ApiRefused) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except (UsageError, ServerUnreachable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
