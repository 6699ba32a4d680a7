"""A remote OCI registry as a replication `Endpoint`, on httpx.

Another moorage (a registry is the first component of a repository name), Harbor (a
project), or any OCI registry (a namespace, or none: Debian's docker-registry has no
namespaces, so names are just prefixed). Authentication answers the registry's challenge:
Bearer tokens (Docker's token flow; one token per scope, kept until it expires) or Basic.

Every request is pinned by the address guard, each redirect hop again, and no proxy from
the environment is used (it would connect unchecked). Connection errors, 429 and 5xx are
retried with exponential backoff, a bounded number of times. Blobs stream both ways and are
never held whole: a download broken midway goes on with a Range request from where it
stopped; a large upload goes in chunks (PATCH with Content-Range), and after a broken
chunk the upload's status says how much the destination holds, and the source is opened
again from there.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import anyio
import httpx

from moorage.domain.replication.endpoints import (
    BlobOpener,
    BlobRef,
    EndpointAuthError,
    EndpointError,
    ManifestBody,
)
from moorage.oci import mediatypes as mt
from moorage.oci.digest import Digest, DigestError
from moorage.oci.manifests import MAX_MANIFEST_BYTES, ManifestError, parse

log = logging.getLogger("moorage.replication.client")

MiB = 1024 * 1024
CHUNK_SIZE = 16 * MiB
"""Bytes per PATCH of a chunked upload; blobs no larger go in one PUT. A broken upload
resends at most this much."""
PAGE_SIZE = 1000
MAX_REDIRECTS = 5
TOKEN_MARGIN_SECONDS = 10.0  # a token this close to expiry is asked for again
ACCEPT = ", ".join([mt.OCI_MANIFEST, mt.OCI_INDEX, mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST_LIST])
OCTETS = "application/octet-stream"
_RETRIED_STATUS = frozenset({429, 500, 502, 503, 504})
_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*"([^"]*)"')
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


class Guard(Protocol):
    """The outbound address guard (`moorage.outbound.guard.AddressGuard`)."""

    def check_url(self, url: str) -> None: ...

    async def pin(self, url: httpx.URL) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class Backoff:
    """Retries after a connection error, 429 or 5xx: `attempts` in all, waiting `first`
    seconds, doubling up to `longest`."""

    attempts: int = 6
    first: float = 0.5
    longest: float = 8.0

    def delay(self, failures: int) -> float:
        return float(min(self.longest, self.first * 2 ** max(0, failures - 1)))


CHECK_BACKOFF = Backoff(attempts=2, first=0.5, longest=0.5)


class _Retry(Exception):
    """A response worth trying again (429, 5xx)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


class _Broken(Exception):
    """An upload chunk that did not land as sent: ask the destination where it stands."""


def _basic(username: str, password: str) -> dict[str, str]:
    pair = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {pair}"}


def _scope(repository: str, actions: str = "pull,push") -> str:
    return f"repository:{repository}:{actions}"


def _challenge(response: httpx.Response) -> tuple[str, dict[str, str]]:
    header = response.headers.get("www-authenticate", "")
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(_CHALLENGE_PARAM.findall(rest))


def _problem(response: httpx.Response) -> str:
    """What the registry said went wrong (its OCI error, else the start of its body)."""
    try:
        doc = json.loads(response.content[:4096] or b"null")
        first = doc["errors"][0]
        return f"{first.get('code', '')}: {first.get('message', '')}".strip(": ")
    except (ValueError, KeyError, IndexError, TypeError, httpx.ResponseNotRead):
        pass
    try:
        text = response.content[:200].decode("utf-8", errors="replace")
    except httpx.ResponseNotRead:
        return ""
    return " ".join(text.split())


def _next_page(response: httpx.Response) -> str | None:
    found = _NEXT_LINK.search(response.headers.get("link", ""))
    return found.group(1) if found else None


def _held(response: httpx.Response) -> int | None:
    """How many bytes an upload holds, from its `Range: 0-<last>` header. distribution says
    `0-0` for an empty upload (and for one byte): read as empty, the safe side."""
    value = response.headers.get("range", "")
    start, _, end = value.partition("-")
    if start.strip() != "0" or not end.strip().isdigit():
        return None
    last = int(end)
    return last + 1 if last > 0 else 0


def _algorithm(reference: str) -> str:
    """The digest algorithm a reference names (a tag: sha256, as registries compute)."""
    if ":" not in reference:
        return "sha256"
    try:
        return Digest.parse(reference).algorithm
    except DigestError as exc:
        raise EndpointError(str(exc)) from None


async def _skip(chunks: AsyncIterator[bytes], count: int) -> AsyncIterator[bytes]:
    """The chunks without their first `count` bytes (a server that ignored Range)."""
    async for chunk in chunks:
        if count >= len(chunk):
            count -= len(chunk)
            continue
        yield chunk[count:] if count else chunk
        count = 0


class _Pieces:
    """A blob's byte stream cut into request bodies of exact lengths, never buffered."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._left = b""
        self.sent = 0

    async def take(self, length: int) -> AsyncIterator[bytes]:
        while length > 0:
            if not self._left:
                try:
                    self._left = await self._chunks.__anext__()
                except StopAsyncIteration:
                    raise EndpointError("the source ended before the blob's size") from None
            piece, self._left = self._left[:length], self._left[length:]
            length -= len(piece)
            self.sent += len(piece)
            yield piece

    async def close(self) -> None:
        closer = getattr(self._chunks, "aclose", None)
        if closer is not None:
            await closer()


class OciRegistry:
    """One registry (or a namespace of one) over the OCI distribution protocol."""

    def __init__(
        self,
        url: str,
        namespace: str,
        username: str | None,
        password: str | None,
        *,
        guard: Guard,
        verify_tls: bool = True,
        chunk_size: int = CHUNK_SIZE,
        page_size: int = PAGE_SIZE,
        backoff: Backoff | None = None,
        timeout: httpx.Timeout | None = None,
        user_agent: str = "moorage-replication",
    ) -> None:
        self._base = httpx.URL(url.rstrip("/") + "/")
        self._host = self._base.netloc.decode("ascii")
        self._namespace = namespace.strip("/")
        self._username = username
        self._password = password or ""
        self._guard = guard
        self._chunk_size = chunk_size
        self._page_size = page_size
        self._backoff = backoff or Backoff()
        self._client = httpx.AsyncClient(
            verify=verify_tls,
            timeout=timeout or httpx.Timeout(60.0, connect=10.0),
            follow_redirects=False,  # every hop is pinned by the guard, here
            trust_env=False,
            headers={"User-Agent": user_agent},
        )
        self._tokens: dict[str, tuple[str, float]] = {}  # scope -> (token, expires at)
        self._basic = False  # the registry asked for Basic credentials
        self._bearer: dict[str, str] | None = None  # its Bearer challenge (realm, service)

    async def close(self) -> None:
        await self._client.aclose()

    def _name(self, repository: str) -> str:
        return f"{self._namespace}/{repository}" if self._namespace else repository

    def _url(self, path: str) -> httpx.URL:
        return self._base.join(path.lstrip("/"))

    # sending --------------------------------------------------------------------------

    async def _dial(
        self,
        method: str,
        url: httpx.URL,
        headers: dict[str, str],
        content: Any = None,
        stream: bool = False,
    ) -> httpx.Response:
        """One request to where the guard says the URL's host is, no retry, no auth."""
        try:
            pinned, extra, extensions = await self._guard.pin(url)
        except OSError as exc:  # the name does not resolve (now): retried like a refusal
            raise httpx.ConnectError(f"{url.host} does not resolve: {exc}") from None
        request = self._client.build_request(
            method, pinned, headers={**headers, **extra}, content=content, extensions=extensions
        )
        try:
            return await self._client.send(request, stream=stream)
        except httpx.InvalidURL as exc:
            raise EndpointError(f"{url}: {exc}") from None

    def _authorization(self, scopes: Sequence[str]) -> dict[str, str]:
        if self._basic:
            return _basic(self._username or "", self._password)
        token = self._tokens.get(" ".join(scopes))
        if token is not None and token[1] > time.monotonic():
            return {"Authorization": f"Bearer {token[0]}"}
        return {}

    async def _authorized(self, scopes: Sequence[str]) -> dict[str, str]:
        """Credentials for a request whose body cannot be sent twice (an upload): a token
        is asked for beforehand when the registry's challenge is known and none is fresh."""
        found = self._authorization(scopes)
        if not found and self._bearer is not None:
            await self._fetch_token(self._bearer, scopes)
            found = self._authorization(scopes)
        return found

    async def _authenticate(self, response: httpx.Response, scopes: Sequence[str]) -> None:
        """Answer a 401's challenge: a token for `scopes`, or Basic credentials."""
        scheme, params = _challenge(response)
        if scheme == "basic":
            if not self._username:
                raise EndpointAuthError(f"{self._host} asks for a username and password")
            if self._basic:
                raise self._refused()
            self._basic = True
            return
        if scheme != "bearer" or "realm" not in params:
            raise EndpointAuthError(
                f"{self._host} refused the request (HTTP 401) without a usable challenge"
            )
        self._bearer = params
        await self._fetch_token(params, scopes)

    async def _fetch_token(self, params: dict[str, str], scopes: Sequence[str]) -> None:
        """Docker's token flow: the realm gives a token for the scopes (with Basic
        credentials, or anonymously), kept until shortly before it expires."""
        wanted = list(scopes) or ([params["scope"]] if params.get("scope") else [])
        query = httpx.QueryParams({"service": params.get("service", ""), "scope": wanted})
        headers = _basic(self._username, self._password) if self._username else {}
        realm = httpx.URL(params["realm"]).copy_merge_params(query)
        answer = await self._retrying(partial(self._dial, "GET", realm, headers))
        if answer.status_code in (401, 403):
            raise self._refused()
        if answer.status_code != 200:
            raise EndpointError(
                f"{self._host}: the token service answered HTTP {answer.status_code}"
            )
        try:
            doc = answer.json()
            token = str(doc.get("token") or doc["access_token"])
            lifetime = float(doc.get("expires_in") or 60)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise EndpointError(
                f"{self._host}: the token service's answer is not a token"
            ) from None
        # Renewed a little early (never later than a quarter of a short lifetime), so a
        # request never leaves with a token that expires on the way.
        early = min(TOKEN_MARGIN_SECONDS, lifetime / 4)
        self._tokens[" ".join(scopes)] = (token, time.monotonic() + lifetime - early)

    def _refused(self) -> EndpointAuthError:
        who = f"user {self._username!r}" if self._username else "anonymous access"
        return EndpointAuthError(f"{self._host} refused the credentials ({who})")

    async def _retrying(self, send: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
        """`send()` again after a connection error, 429 or 5xx, with backoff."""
        failures = 0
        while True:
            try:
                response = await send()
                if response.status_code in _RETRIED_STATUS:
                    raise _Retry(response)
                return response
            except (httpx.TransportError, _Retry) as exc:
                failures += 1
                if isinstance(exc, _Retry):
                    if failures >= self._backoff.attempts:
                        await exc.response.aread()
                        return exc.response
                    await exc.response.aclose()
                elif failures >= self._backoff.attempts:
                    raise EndpointError(
                        f"{self._host} cannot be reached: {type(exc).__name__} {exc}".rstrip()
                    ) from None
                log.info("retrying %s after %s", self._host, exc)
                await anyio.sleep(self._retry_after(exc, failures))

    def _retry_after(self, exc: Exception, failures: int) -> float:
        delay = self._backoff.delay(failures)
        if isinstance(exc, _Retry):
            asked = exc.response.headers.get("retry-after", "")
            if asked.isdigit():
                return min(float(asked), self._backoff.longest)
        return delay

    async def _send(
        self,
        method: str,
        url: httpx.URL,
        scopes: Sequence[str] = (),
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """A request with authentication and retries (the body, if any, is replayable)."""
        authenticated = False
        while True:
            sent = {**(headers or {}), **self._authorization(scopes)}
            response = await self._retrying(partial(self._dial, method, url, sent, content, stream))
            if response.status_code != 401:
                return response
            await response.aread()
            if authenticated:
                raise self._refused()
            await self._authenticate(response, scopes)
            authenticated = True

    def _fail(self, response: httpx.Response, what: str) -> EndpointError:
        said = _problem(response)
        status = response.status_code
        error = EndpointAuthError if status in (401, 403) else EndpointError
        return error(
            f"{what}: {self._host} answered HTTP {status}" + (f" ({said})" if said else "")
        )

    # the port: reading ----------------------------------------------------------------

    async def check(self) -> None:
        # Someone waits for a check (a refresh): a silent remote is retried once, not with a
        # copy's patience. A shallow copy with that policy shares the client and the tokens
        # and leaves this endpoint's own policy untouched for whoever else uses it.
        hasty = copy.copy(self)
        hasty._backoff = CHECK_BACKOFF
        await hasty._check()

    async def _check(self) -> None:
        response = await self._send("GET", self._url("/v2/"))
        if response.status_code != 200:
            raise self._fail(response, "not an OCI registry, or it refused")
        if self._namespace:
            await self._check_registry(self._namespace.split("/", 1)[0])

    async def _check_registry(self, registry: str) -> None:
        """Another moorage says whether the registry exists (its REST API answers a problem
        document when not). Elsewhere a namespace need not exist before a push, and there
        is nothing to ask. Credentials go only where moorage's Basic challenge asks."""
        url = self._url(f"/api/v1/registries/{registry}")
        response = await self._retrying(partial(self._dial, "GET", url, {}))
        scheme, params = _challenge(response)
        if response.status_code == 401 and scheme == "basic" and params.get("realm") == "moorage":
            if not self._username:
                return  # anonymous: the /v2 protocol is all it may use
            creds = _basic(self._username, self._password)
            response = await self._retrying(partial(self._dial, "GET", url, creds))
        problem = mt.base(response.headers.get("content-type")) == "application/problem+json"
        if response.status_code == 404 and problem:
            who = f", or user {self._username!r} may not see it" if self._username else ""
            raise EndpointError(f"registry {registry} does not exist at {self._host}{who}")

    async def _pages(self, first: httpx.URL, scopes: Sequence[str], key: str) -> AsyncIterator[str]:
        """Names across `Link` pages (catalog, tags); nothing when the list does not exist."""
        url: httpx.URL | None = first
        while url is not None:
            response = await self._send("GET", url, scopes)
            if response.status_code == 404:
                return
            if response.status_code != 200:
                raise self._fail(response, f"listing {url.path}")
            try:
                names = response.json().get(key) or []
            except (ValueError, AttributeError):
                raise EndpointError(f"{self._host}: {url.path} is not a JSON list") from None
            for name in names:
                yield str(name)
            link = _next_page(response)
            url = url.join(link) if link else None

    async def list_repositories(self) -> list[str]:
        prefix = f"{self._namespace}/" if self._namespace else ""
        query = f"n={self._page_size}" + (f"&last={self._namespace}/" if prefix else "")
        found = []
        async for name in self._pages(
            self._url(f"/v2/_catalog?{query}"), ["registry:catalog:*"], "repositories"
        ):
            if name.startswith(prefix):
                found.append(name[len(prefix) :])
            elif prefix and name > prefix:
                break  # the catalog is sorted: past the namespace
        return sorted(found)

    async def list_tags(self, repository: str) -> list[str]:
        name = self._name(repository)
        url = self._url(f"/v2/{name}/tags/list?n={self._page_size}")
        return sorted([tag async for tag in self._pages(url, [_scope(name)], "tags")])

    async def _manifest(
        self, repository: str, reference: str, method: str
    ) -> httpx.Response | None:
        name = self._name(repository)
        url = self._url(f"/v2/{name}/manifests/{reference}")
        response = await self._send(method, url, [_scope(name)], {"Accept": ACCEPT}, stream=True)
        if response.status_code == 404:
            await response.aclose()
            return None
        if response.status_code != 200:
            await response.aread()
            raise self._fail(response, f"reading manifest {name}:{reference}")
        return response

    async def get_manifest(self, repository: str, reference: str) -> ManifestBody | None:
        response = await self._manifest(repository, reference, "GET")
        if response is None:
            return None
        try:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_MANIFEST_BYTES:
                    raise EndpointError(
                        f"{repository}:{reference} is larger than a manifest may be"
                    )
        finally:
            await response.aclose()
        digest = str(Digest.of(bytes(body), _algorithm(reference)))
        if ":" in reference and digest != reference:
            raise EndpointError(f"{self._host} answered {reference} with bytes of {digest}")
        try:
            media_type = parse(bytes(body), response.headers.get("content-type", "")).media_type
        except ManifestError as exc:
            raise EndpointError(f"{repository}:{reference}: {exc}") from None
        return ManifestBody(digest, media_type, bytes(body))

    async def manifest_digest(self, repository: str, reference: str) -> str | None:
        response = await self._manifest(repository, reference, "HEAD")
        if response is None:
            return None
        await response.aclose()
        digest = response.headers.get("docker-content-digest")
        if digest:
            return str(digest)
        found = await self.get_manifest(repository, reference)  # a registry without the header
        return found.digest if found else None

    async def referrers(self, repository: str, digest: str) -> list[ManifestBody]:
        found = []
        for descriptor in await self._referrer_descriptors(repository, digest):
            manifest = await self.get_manifest(repository, str(descriptor.get("digest")))
            if manifest is not None:
                found.append(manifest)
        return found

    async def _referrer_descriptors(self, repository: str, digest: str) -> list[dict[str, Any]]:
        """The referrers API's index, else the referrers tag schema's (`sha256-<hex>`)."""
        name = self._name(repository)
        url: httpx.URL | None = self._url(f"/v2/{name}/referrers/{digest}")
        found: list[dict[str, Any]] = []
        while url is not None:
            response = await self._send("GET", url, [_scope(name)], {"Accept": mt.OCI_INDEX})
            if response.status_code != 200:
                if found:
                    raise self._fail(response, f"listing referrers of {digest}")
                return await self._tagged_referrers(repository, digest)
            found += _descriptors(response.content)
            link = _next_page(response)
            url = url.join(link) if link else None
        return found

    async def _tagged_referrers(self, repository: str, digest: str) -> list[dict[str, Any]]:
        index = await self.get_manifest(repository, _referrers_tag(digest))
        return _descriptors(index.body) if index is not None else []

    async def blob_size(self, repository: str, digest: str) -> int | None:
        """The blob's size as the registry (or where it redirects to) says; None when absent."""
        name = self._name(repository)
        url = self._url(f"/v2/{name}/blobs/{digest}")
        response = await self._send("HEAD", url, [_scope(name, "pull")])
        await response.aclose()
        if response.status_code == 404:
            return None
        length = response.headers.get("content-length", "")
        if response.status_code == 200 and length.isdigit():
            return int(length)
        if response.is_redirect:  # the size is where the blob is
            return await self._size_at(url.join(response.headers["location"]))
        raise self._fail(response, f"asking for blob {digest}")

    async def _size_at(self, url: httpx.URL) -> int | None:
        response = await self._retrying(lambda: self._dial("HEAD", url, {}))
        length = response.headers.get("content-length", "")
        if response.status_code == 200 and length.isdigit():
            return int(length)
        raise self._fail(response, f"asking {url.host} for a blob's size")

    async def has_blob(self, repository: str, digest: str) -> bool:
        return await self._has(self._name(repository), digest)

    async def _has(self, name: str, digest: str) -> bool:
        url = self._url(f"/v2/{name}/blobs/{digest}")
        response = await self._send("HEAD", url, [_scope(name)])
        if response.status_code == 404:
            return False
        if response.status_code == 200 or response.is_redirect:
            return True
        raise self._fail(response, f"asking for blob {digest}")

    def open_blob(self, repository: str, blob: BlobRef) -> BlobOpener:
        def opener(offset: int) -> AsyncIterator[bytes]:
            return self._read_blob(repository, blob, offset)

        return opener

    async def _read_blob(self, repository: str, blob: BlobRef, offset: int) -> AsyncIterator[bytes]:
        """The blob from `offset`; a download broken midway goes on from where it stopped."""
        failures = 0
        while offset < blob.size:
            try:
                async for chunk in self._blob_stream(repository, blob.digest, offset):
                    offset += len(chunk)
                    failures = 0
                    yield chunk
                if offset < blob.size:
                    raise httpx.RemoteProtocolError("the download ended early")
            except httpx.TransportError as exc:
                failures += 1
                if failures >= self._backoff.attempts:
                    raise EndpointError(
                        f"downloading {blob.digest} from {self._host} failed at byte {offset}: "
                        f"{exc}"
                    ) from None
                await anyio.sleep(self._backoff.delay(failures))

    async def _blob_stream(self, repository: str, digest: str, offset: int) -> AsyncIterator[bytes]:
        name = self._name(repository)
        url = self._url(f"/v2/{name}/blobs/{digest}")
        # Raw bytes are hashed: no compression on the way.
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        response = await self._send("GET", url, [_scope(name, "pull")], headers, stream=True)
        for _ in range(MAX_REDIRECTS):
            if not response.is_redirect:
                break
            await response.aclose()
            target = url.join(response.headers["location"])
            if target.host != url.host or target.port != url.port:
                headers = {k: v for k, v in headers.items() if k != "Authorization"}
            else:
                headers = {**headers, **self._authorization([_scope(name, "pull")])}
            url = target
            hop = partial(self._dial, "GET", url, headers, None, True)
            response = await self._retrying(hop)
        try:
            if response.status_code not in (200, 206):
                await response.aread()
                raise self._fail(response, f"downloading blob {digest}")
            chunks = response.aiter_raw()
            if offset and response.status_code == 200:
                chunks = _skip(chunks, offset)  # the server ignored the Range
            async for chunk in chunks:
                yield chunk
        finally:
            await response.aclose()

    # the port: writing ----------------------------------------------------------------

    async def put_blob(
        self, repository: str, blob: BlobRef, source: BlobOpener, mount_from: str | None
    ) -> int:
        name = self._name(repository)
        location = await self._start_upload(name, blob.digest, mount_from)
        if location is None:
            return 0
        if blob.size <= self._chunk_size:
            return await self._put_whole(name, location, blob, source)
        return await self._put_chunked(name, location, blob, source)

    async def _start_upload(
        self, name: str, digest: str, mount_from: str | None
    ) -> httpx.URL | None:
        """A new upload's URL; None when the blob was mounted from `mount_from`."""
        url = self._url(f"/v2/{name}/blobs/uploads/")
        scopes = [_scope(name)]
        if mount_from:
            source = self._name(mount_from)
            url = url.copy_merge_params({"mount": digest, "from": source})
            scopes.append(_scope(source, "pull"))
        response = await self._send("POST", url, scopes, {"Content-Length": "0"}, b"")
        if mount_from and response.status_code == 201:
            return None
        if response.status_code != 202 or "location" not in response.headers:
            raise self._fail(response, f"starting the upload of {digest} to {name}")
        least = response.headers.get("oci-chunk-min-length", "")
        if least.isdigit():  # OCI distribution 1.1: the destination's smallest chunk
            self._chunk_size = max(self._chunk_size, int(least))
        return url.join(response.headers["location"])

    async def _put_whole(
        self, name: str, location: httpx.URL, blob: BlobRef, source: BlobOpener
    ) -> int:
        """A small blob in one PUT; after a failure, in a new upload."""
        sent = 0
        failures = 0
        while True:
            pieces = _Pieces(source(0))
            try:
                response = await self._dial(
                    "PUT",
                    location.copy_merge_params({"digest": blob.digest}),
                    await self._upload_headers(name, blob.size),
                    pieces.take(blob.size),
                )
                await response.aread()
                if response.status_code == 201:
                    return sent + pieces.sent
                if response.status_code not in _RETRIED_STATUS:
                    raise self._fail(response, f"uploading blob {blob.digest} to {name}")
                reason = f"HTTP {response.status_code}"
            except httpx.TransportError as exc:
                reason = str(exc) or type(exc).__name__
            finally:
                await pieces.close()
            sent += pieces.sent
            failures += 1
            if failures >= self._backoff.attempts:
                raise EndpointError(f"uploading blob {blob.digest} to {self._host}: {reason}")
            await anyio.sleep(self._backoff.delay(failures))
            location = await self._start_upload(name, blob.digest, None) or location

    async def _upload_headers(
        self, name: str, length: int, first: int | None = None
    ) -> dict[str, str]:
        headers = {"Content-Type": OCTETS, "Content-Length": str(length)}
        if first is not None:
            headers["Content-Range"] = f"{first}-{first + length - 1}"
        return {**headers, **await self._authorized([_scope(name)])}

    async def _put_chunked(
        self, name: str, location: httpx.URL, blob: BlobRef, source: BlobOpener
    ) -> int:
        """PATCH by chunks; after a break, go on from what the destination says it holds."""
        offset = sent = failures = 0
        while True:
            pieces = _Pieces(source(offset))
            try:
                while offset < blob.size:
                    length = min(self._chunk_size, blob.size - offset)
                    response = await self._dial(
                        "PATCH",
                        location,
                        await self._upload_headers(name, length, offset),
                        pieces.take(length),
                    )
                    await response.aread()
                    if response.status_code != 202:
                        if response.status_code == 401:
                            self._tokens.clear()  # expired during a long upload: ask again
                        raise _Broken(f"HTTP {response.status_code} {_problem(response)}")
                    location = location.join(response.headers.get("location", str(location)))
                    offset += length
                    held = _held(response)
                    if held not in (None, 0, offset):
                        raise _Broken(f"the destination holds {held} bytes, not {offset}")
                    failures = 0
                return sent + pieces.sent + await self._finish(name, location, blob)
            except (httpx.TransportError, _Broken) as exc:
                failures += 1
                reason = str(exc) or type(exc).__name__
            finally:
                await pieces.close()
            sent += pieces.sent
            if failures >= self._backoff.attempts:
                raise EndpointError(
                    f"uploading blob {blob.digest} to {self._host} failed at byte {offset}: "
                    + reason
                )
            log.info("upload of %s broke at byte %d (%s); resuming", blob.digest, offset, reason)
            await anyio.sleep(self._backoff.delay(failures))
            location, offset = await self._resume(name, location, blob.digest)

    async def _resume(self, name: str, location: httpx.URL, digest: str) -> tuple[httpx.URL, int]:
        """Where a broken upload stands: its URL and the bytes the destination holds; a new
        upload when the destination forgot it."""
        response = await self._send("GET", location, [_scope(name)])
        if response.status_code == 204:
            held = _held(response) or 0
            return location.join(response.headers.get("location", str(location))), held
        log.info(
            "upload of %s is gone at %s (HTTP %d): starting again",
            digest,
            self._host,
            response.status_code,
        )
        fresh = await self._start_upload(name, digest, None)
        assert fresh is not None
        return fresh, 0

    async def _finish(self, name: str, location: httpx.URL, blob: BlobRef) -> int:
        url = location.copy_merge_params({"digest": blob.digest})
        response = await self._send("PUT", url, [_scope(name)], {"Content-Length": "0"}, b"")
        if response.status_code != 201:
            if await self._has(name, blob.digest):
                return 0  # an earlier try landed but its answer was lost
            raise self._fail(response, f"finishing the upload of {blob.digest} to {name}")
        return 0

    async def put_manifest(self, repository: str, reference: str, manifest: ManifestBody) -> None:
        name = self._name(repository)
        response = await self._put_manifest(name, reference, manifest.media_type, manifest.body)
        subject = _subject(manifest)
        if subject is not None and "oci-subject" not in response.headers:
            await self._tag_referrer(repository, subject, manifest)

    async def _put_manifest(
        self, name: str, reference: str, media_type: str, body: bytes
    ) -> httpx.Response:
        url = self._url(f"/v2/{name}/manifests/{reference}")
        response = await self._send("PUT", url, [_scope(name)], {"Content-Type": media_type}, body)
        if response.status_code not in (200, 201):
            raise self._fail(response, f"writing manifest {name}:{reference}")
        return response

    async def _tag_referrer(self, repository: str, subject: str, manifest: ManifestBody) -> None:
        """A registry without the referrers API learns of a referrer through the referrers
        tag schema: an index tagged `sha256-<hex>` of the subject lists it (OCI
        distribution 1.1; a registry with the API answers the push with `OCI-Subject`)."""
        name = self._name(repository)
        tag = _referrers_tag(subject)
        current = await self.get_manifest(repository, tag)
        listed = _descriptors(current.body) if current is not None else []
        if any(d.get("digest") == manifest.digest for d in listed):
            return
        listed.append(_referrer_descriptor(manifest))
        index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": listed}
        await self._put_manifest(name, tag, mt.OCI_INDEX, json.dumps(index).encode())


def _referrers_tag(digest: str) -> str:
    algorithm, _, hex_part = digest.partition(":")
    return f"{algorithm}-{hex_part}"[:128]


def _descriptors(body: bytes) -> list[dict[str, Any]]:
    try:
        doc = json.loads(body)
        return [d for d in doc.get("manifests") or [] if isinstance(d, dict) and "digest" in d]
    except (ValueError, AttributeError):
        return []


def _subject(manifest: ManifestBody) -> str | None:
    try:
        parsed = parse(manifest.body, manifest.media_type)
    except ManifestError:
        return None
    return str(parsed.subject.digest) if parsed.subject else None


def _referrer_descriptor(manifest: ManifestBody) -> dict[str, Any]:
    parsed = parse(manifest.body, manifest.media_type)
    descriptor: dict[str, Any] = {
        "mediaType": manifest.media_type,
        "digest": manifest.digest,
        "size": len(manifest.body),
    }
    if parsed.effective_artifact_type:
        descriptor["artifactType"] = parsed.effective_artifact_type
    if parsed.annotations:
        descriptor["annotations"] = parsed.annotations
    return descriptor
