"""`RemoteApi`: the CLI's client of a running server's REST API (/api/v1).

It speaks JSON and Basic credentials (a username and password, or an access key and its
secret), answers with the API's JSON as it came, and turns every failure into one of two
errors the command line prints as a single line: `ApiRefused` (the server answered with a
problem: exit status 1) and `ServerUnreachable` (no answer at all: exit status 2)."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from moorage import __version__

if TYPE_CHECKING:
    import httpx

API_PREFIX = "/api/v1"
PAGE_SIZE = 100  # the API's largest page: list commands fetch every page in turn


class ApiRefused(Exception):
    """The server answered with an error (an RFC 9457 problem, or a bare status)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


class ServerUnreachable(Exception):
    """No HTTP answer: refused connection, unknown host, TLS failure, timeout."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach {url}: {reason}")
        self.url = url


def server_url(text: str) -> str:
    """The server's base URL: `https://` when no scheme is given, no trailing slash."""
    url = text.strip().rstrip("/")
    if "://" not in url:
        url = f"https://{url}"
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {text!r}")
    return url


def segment(name: str) -> str:
    """A path segment: image names may hold '/', sent as %2F as the API asks."""
    return quote(name, safe="")


class RemoteApi:
    """One server, one set of credentials (or none, for a server without authentication)."""

    def __init__(
        self,
        server: str,
        credentials: tuple[str, str] | None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        import httpx  # on first use: the server imports this module, and needs no client

        self.server = server_url(server)
        self._http = httpx.Client(
            base_url=self.server + API_PREFIX,
            auth=credentials,
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": f"moorage-cli/{__version__}", "Accept": "application/json"},
        )

    def __enter__(self) -> RemoteApi:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._send("GET", path, params=params)

    def items(self, path: str) -> list[Any]:
        """Every item of a paged list (`items`, `total`, `page`, `page_size`), page by page."""
        found: list[Any] = []
        page = 1
        while True:
            body = self.get(path, {"page": page, "page_size": PAGE_SIZE})
            found.extend(body["items"])
            if not body["items"] or len(found) >= int(body["total"]):
                return found
            page += 1

    def post(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        return self._send("POST", path, json=body or {})

    def put(self, path: str, body: Mapping[str, Any]) -> Any:
        return self._send("PUT", path, json=body)

    def patch(self, path: str, body: Mapping[str, Any]) -> Any:
        return self._send("PATCH", path, json=body)

    def delete(self, path: str, params: Mapping[str, Any] | None = None) -> None:
        self._send("DELETE", path, params=params)

    def _send(self, method: str, path: str, **options: Any) -> Any:
        import httpx

        try:
            response = self._http.request(method, path, **options)
        except httpx.TransportError as exc:
            raise ServerUnreachable(self.server, _reason(exc)) from None
        if response.status_code >= 400:
            raise ApiRefused(response.status_code, _problem_detail(response))
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ApiRefused(
                response.status_code, f"{self.server} did not answer with JSON: is it moorage?"
            ) from None


def _problem_detail(response: httpx.Response) -> str:
    """The problem's `detail` (or `title`); a page from a proxy is named by its status."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("detail", "title"):
            if isinstance(body.get(key), str) and body[key]:
                return str(body[key])
    return f"HTTP {response.status_code} {response.reason_phrase} from {response.url}"


def _reason(exc: httpx.TransportError) -> str:
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    text = str(exc).strip()
    # httpx words a refused connection as "[Errno 111] Connection refused": keep the words.
    return text.split("] ", 1)[-1] if text else type(exc).__name__
