"""`WebhookSender` over httpx: one POST per call, with TLS, timeouts and an address guard.

The guard refuses loopback, link-local, private and other non-global addresses (see
`moorage.domain.webhooks.refused_ip`) unless the operator allows private targets. At
delivery time it resolves the name itself, refuses when any address is refused, and then
connects to the address it checked — with the original name as `Host` and TLS server name —
so a DNS answer that changes between the check and the connection (DNS rebinding) cannot
lead inside. Environment proxy settings are ignored for the same reason: a proxy would make
the connection on our behalf, unchecked.
"""

from __future__ import annotations

import socket
import ssl
import time
from urllib.parse import urlsplit

import anyio
import httpx

from moorage.domain.webhooks.errors import InvalidWebhook, RefusedAddress
from moorage.domain.webhooks.ports import OutboundRequest, OutboundResponse
from moorage.domain.webhooks.subscriptions import literal_ip, refused_ip

EXCERPT_BYTES = 512  # of a failed response's body, kept in the attempt's error


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _refuse(host: str, address: str) -> RefusedAddress:
    shown = host if host == address else f"{host} ({address})"
    return RefusedAddress(
        f"{shown} is a loopback, link-local or private address: moorage does not call "
        "those unless the operator sets MOORAGE_ALLOW_PRIVATE_TARGETS=1"
    )


def _check_all(host: str, addresses: list[str]) -> str:
    """The first address, when none of them is refused."""
    for address in addresses:
        if refused_ip(address):
            raise _refuse(host, address)
    return addresses[0]


class HttpWebhookSender:
    def __init__(
        self,
        *,
        allow_private_targets: bool = False,
        user_agent: str = "moorage",
        connect_timeout: float = 5.0,
        total_timeout: float = 15.0,
    ) -> None:
        self._allow_private = allow_private_targets
        self._user_agent = user_agent
        self._total = total_timeout
        self._timeout = httpx.Timeout(total_timeout, connect=connect_timeout)
        # Built once: loading the CA bundle costs milliseconds per context.
        self._tls = {True: httpx.create_ssl_context(verify=True), False: None}

    # creation time ----------------------------------------------------------------------------

    def check_address(self, url: str) -> None:
        if self._allow_private:
            return
        parts = urlsplit(url)
        host = parts.hostname or ""
        if (literal := literal_ip(host)) is not None:
            _check_all(host, [literal])
            return
        try:
            found = socket.getaddrinfo(
                host, parts.port or _default_port(parts.scheme), type=socket.SOCK_STREAM
            )
        except UnicodeError:
            raise InvalidWebhook(f"{host!r} is not a valid host name") from None
        except OSError:
            return  # does not resolve now: every delivery resolves and checks again
        _check_all(host, [str(info[4][0]) for info in found])

    # delivery time ----------------------------------------------------------------------------

    async def _resolve(self, host: str, port: int) -> str:
        if (literal := literal_ip(host)) is not None:
            return _check_all(host, [literal])
        found = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return _check_all(host, [str(info[4][0]) for info in found])

    def _context(self, verify: bool) -> ssl.SSLContext:
        context = self._tls[verify]
        if context is None:
            context = self._tls[verify] = httpx.create_ssl_context(verify=False)
        return context

    async def post(self, request: OutboundRequest) -> OutboundResponse:
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
        url = httpx.URL(request.url)
        headers = {**request.headers, "User-Agent": self._user_agent}
        extensions: dict[str, str] = {}
        if not self._allow_private:
            host = url.raw_host.decode("ascii")
            address = await self._resolve(host, url.port or _default_port(url.scheme))
            if literal_ip(host) is None:
                headers["Host"] = url.netloc.decode("ascii")
                if url.scheme == "https":
                    extensions["sni_hostname"] = host  # certificates are checked for the name
                url = url.copy_with(host=address)
        client = httpx.AsyncClient(
            verify=self._context(request.verify_tls),
            timeout=self._timeout,
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
