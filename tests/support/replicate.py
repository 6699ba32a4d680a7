"""Copy one artifact between two registries in a process of its own, and say what it cost.

    python -m tests.support.replicate '<json>'

The JSON names `source` and `destination` (each `url`, `namespace`, `username`,
`password`), `source_repo`, `destination_repo`, `reference`, and optionally `chunk_size`
and `attempts`. The answer, on stdout, is one JSON line: status, digest, bytes_sent and the
process's peak resident memory (`peak_rss`, bytes).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio

from moorage.domain.replication.copy import copy_artifact
from moorage.outbound.guard import AddressGuard
from moorage.outbound.oci_client import CHUNK_SIZE, Backoff, OciRegistry


def endpoint(side: dict[str, Any], options: dict[str, Any]) -> OciRegistry:
    return OciRegistry(
        side["url"],
        side.get("namespace", ""),
        side.get("username"),
        side.get("password"),
        guard=AddressGuard(allow_private=True),
        chunk_size=options.get("chunk_size", CHUNK_SIZE),
        backoff=Backoff(attempts=options.get("attempts", 6)),
    )


async def main(options: dict[str, Any]) -> dict[str, Any]:
    source = endpoint(options["source"], options)
    destination = endpoint(options["destination"], options)
    try:
        result = await copy_artifact(
            source,
            destination,
            options["source_repo"],
            options["destination_repo"],
            options["reference"],
            override=True,
            log=lambda line: print(line, file=sys.stderr, flush=True),
        )
    finally:
        await source.close()
        await destination.close()
    return {
        "status": result.status,
        "digest": result.digest,
        "bytes_sent": result.bytes_sent,
        "peak_rss": peak_rss(),
    }


def peak_rss() -> int:
    """This process's peak resident memory (VmHWM). Not `ru_maxrss`: Linux carries that
    over from the parent through fork and exec, so it would count the test's memory."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


if __name__ == "__main__":
    print(json.dumps(anyio.run(main, json.loads(sys.argv[1]))), flush=True)
