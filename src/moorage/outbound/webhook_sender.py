"""`WebhookSender` over httpx: one POST per call, with TLS, timeouts and an address guard.

The guard (`moorage.outbound.guard.AddressGuard`) refuses loopback, link-local, private and
other non-global addresses unless the operator allows private targets: when a webhook is
configured, and on every delivery, where it resolves the name itself and the POST goes to
the address it checked — with the original name as `Host` and TLS server name — so DNS
rebinding cannot lead inside. Environment proxy settings are ignored for the same reason: a
proxy would make the connection on our behalf, unchecked; redirects are not followed.
"""

from __future__ import annotations

import ssl
import time
from typing import TYPE_CHECKING

import anyio

from moorage.domain.kernel.errors import RefusedAddress
from moorage.domain.webhooks.ports import OutboundRequest, OutboundResponse
from moorage.outbound.guard import AddressGuard

if TYPE_CHECKING:
    import httpx

EXCERPT_BYTES = 512  # of a failed response's body, kept in the attempt's error


class HttpWebhookSender:
    def __init__(
        self,
        *,
        allow_private_targets: bool = False,
        guard: AddressGuard | None = None,
        user_agent: str = "moorage",
        connect_timeout: float = 5.0,
        total_timeout: float = 15.0,
    ) -> None:
        self._guard = guard or AddressGuard(allow_private=allow_private_targets)
        self._user_agent = user_agent
        self._total = total_timeout
        self._connect = connect_timeout
        # Each built once, on first use: loading the CA bundle costs milliseconds (and memory).
        self._tls: dict[bool, ssl.SSLContext] = {}

    # creation time ----------------------------------------------------------------------------

    def check_address(self, url: str) -> None:
        self._guard.check_url(url)

    # delivery time ----------------------------------------------------------------------------

    def _context(self, verify: bool) -> ssl.SSLContext:
        import httpx

        context = self._tls.get(verify)
        if context is None:
            context = self._tls[verify] = httpx.create_ssl_context(verify=verify)
        return context

    async def post(self, request: OutboundRequest) -> OutboundResponse:
        import httpx

        started = time.monotonic()

        def failed(
            error: str, status: int | None = None, refused: bool = False
        ) -> OutboundResponse:
            elapsed = int((time.monotonic() - started) * 1000)
            return OutboundResponse(status, error, elapsed, refused)

        try:
            with anyio.fail_after(self._total):
                status, excerpt = await self._post(request)
        except RefusedAddress as exc:
            return failed(str(exc), refused=True)
        except TimeoutError:
            return failed(f"no answer within {self._total:g} s")
        except (httpx.HTTPError, httpx.InvalidURL, OSError, UnicodeError) as exc:
            return failed(f"{type(exc).__name__}: {exc}".rstrip(": "))
        if not 200 <= status < 300:
            return failed(f"HTTP {status}" + (f": {excerpt}" if excerpt else ""), status)
        return OutboundResponse(status, None, int((time.monotonic() - started) * 1000))

    async def _post(self, request: OutboundRequest) -> tuple[int, str]:
        import httpx

        url, pinned, extensions = await self._guard.pin(httpx.URL(request.url))
        headers = {**request.headers, "User-Agent": self._user_agent, **pinned}
        client = httpx.AsyncClient(
            verify=self._context(request.verify_tls),
            timeout=httpx.Timeout(self._total, connect=self._connect),
            follow_redirects=False,  # a redirect could point anywhere, unchecked
            trust_env=False,
        )
        async with (
            client,
            client.stream(
                "POST", url, content=request.body, headers=headers, extensions=extensions
            ) as response,
        ):
            return response.status_code, await _excerpt(response)


async def _excerpt(response: httpx.Response) -> str:
    """The start of a response body, on one line, for the attempt's record."""
    if 200 <= response.status_code < 300:
        return ""
    data = b""
    async for chunk in response.aiter_raw():
        data += chunk
        if len(data) >= EXCERPT_BYTES:
            break
    text = data[:EXCERPT_BYTES].decode("utf-8", errors="replace")
    return " ".join(text.split())[:200]
