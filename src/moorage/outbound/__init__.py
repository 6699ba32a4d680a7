"""Talking to the outside world: adapters for the domain's outbound ports.

The clients here are on httpx, imported when first used (a server that never calls out
never loads it), and without httpx's command line: `import httpx` also imports
`httpx._main`, the `httpx` command, and with it click, rich and pygments wherever they are
installed (moorage's CLI installs rich), about 4 MiB a server would hold for nothing. httpx
goes without its command line when that module cannot be imported, as when its `cli` extra is
not installed; marking it so here, before any module of this package imports httpx, does
that. The mark only stands when httpx is not loaded yet (a process that loaded it already,
its command line included, keeps it as it is)."""

import sys

if "httpx" not in sys.modules:
    # None as a module makes importing that name fail (ImportError), as Python documents.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
