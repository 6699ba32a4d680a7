"""The outbound clients load httpx without its command line, which would bring click, rich
and pygments into a server that calls out (webhooks, replication, proxy caches)."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import moorage.wiring
assert "httpx" not in sys.modules, "httpx is loaded before any client is used"
import moorage.outbound.oci_client, moorage.outbound.webhook_sender
import httpx
loaded = [m for m in ("click", "rich", "pygments", "httpx._main") if sys.modules.get(m)]
print(loaded, callable(httpx.main))
"""


def test_httpx_loads_on_first_use_and_without_its_command_line() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "True"]
