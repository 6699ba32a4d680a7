"""Claim tokens that say which process holds an upload, so a dead holder is recognised.

A writer's claim on an upload lapses after a lease when it is not renewed. When the holder
ran on this machine (the same kernel boot and PID namespace), moorage need not wait for the
lease: if that process no longer exists — or its PID now belongs to a process started at
another time — it died, and its claim is taken over at once. That is what lets a client
resume an upload straight after the server was killed and restarted. A holder on another
machine cannot be checked, so its claim lapses only with the lease.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

_PROC = Path("/proc")


class WriterTokens:
    """Makes claim tokens `<namespace>.<pid>.<start>.<random>` and judges other tokens."""

    def __init__(self, proc: Path = _PROC) -> None:
        self._proc = proc
        self._namespace = _namespace_key(proc)
        self._own: tuple[int, int] | None = None  # this process's (pid, start), read once

    def new(self) -> str:
        pid = os.getpid()
        if self._own is None or self._own[0] != pid:  # a forked child has another pid
            self._own = (pid, _start_time(self._proc, pid) or 0)
        return f"{self._namespace}.{pid}.{self._own[1]}.{uuid.uuid4().hex[:8]}"

    def holder_is_dead(self, token: str) -> bool:
        """True only when the token's process provably no longer runs on this machine."""
        parts = token.split(".")
        if len(parts) != 4 or not self._namespace or parts[0] != self._namespace:
            return False
        try:
            pid, started = int(parts[1]), int(parts[2])
        except ValueError:
            return False
        if started == 0 or pid <= 0:
            return False  # its start time was unknown: nothing can be proven
        return _start_time(self._proc, pid) != started


def _namespace_key(proc: Path) -> str:
    """This kernel boot and PID namespace: where a PID means the same process."""
    try:
        boot = (proc / "sys/kernel/random/boot_id").read_text().strip()
        namespace = os.stat(proc / "self/ns/pid").st_ino
    except OSError:
        return ""
    return hashlib.sha256(f"{boot}:{namespace}".encode()).hexdigest()[:12]


def _start_time(proc: Path, pid: int) -> int | None:
    """When the process started (clock ticks since boot), or None when it does not exist."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # after the command name, which may hold spaces
    try:
        return int(fields[19])  # field 22 of proc(5), counted from field 3
    except (IndexError, ValueError):
        return None
