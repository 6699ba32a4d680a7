"""The proxy-cache service: which registries are proxy caches, and what a pull through one
does before it is served from the store.

A manifest by tag is served from the store while its last revalidation is younger than the
registry's interval; after that, upstream is asked for the tag's digest (a HEAD): the same
digest only renews the revalidation, another one is fetched and stored under the tag. When
upstream cannot answer, the cached copy is served and the answer says so. A manifest by
digest never changes: once cached it is never revalidated. Blobs are fetched on demand, one
fetch per blob per process (`flights`); an index's children when a client asks for them.
Cached artifacts are ordinary artifacts (cleanup and garbage collection apply), marked with
their upstream and last revalidation.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar
from urllib.parse import urlsplit

from moorage.domain.content.artifacts import (
    ArtifactService,
    is_digest,
    is_valid_tag,
    parse_digest,
)
from moorage.domain.content.uploads import UploadService
from moorage.domain.kernel.blocking import Blocking
from moorage.domain.kernel.clock import Clock, utcnow
from moorage.domain.kernel.errors import (
    BlobNotFound,
    ManifestNotFound,
    NotFound,
    Protected,
    RefusedAddress,
    RegistryNotFound,
)
from moorage.domain.kernel.ports import UnitOfWork
from moorage.domain.proxycache.errors import InvalidUpstream, UpstreamUnavailable
from moorage.domain.proxycache.flights import Flight, Flights, drain
from moorage.domain.proxycache.model import CachedTag, CacheMark, Upstream, UpstreamDraft
from moorage.domain.proxycache.ports import (
    ProxyCacheTx,
    SecretBox,
    UpstreamFactory,
    UpstreamManifest,
    UpstreamRegistry,
)

T = TypeVar("T")
log = logging.getLogger("moorage.proxycache")

DEFAULT_REVALIDATE_SECONDS = 300
KNOWN_SECONDS = 5.0
"""How long this process trusts its list of proxy-cache registries (one query for all of
them): a registry made a proxy cache on another node is one within this time."""
MAX_REVALIDATE_SECONDS = 365 * 24 * 3600
HIT, MISS, REVALIDATED = "hit", "miss", "revalidated"
KEPT = "kept; tag protected"
STALE = "stale; upstream unreachable"


@dataclass(slots=True)
class Counters:
    """What /metrics shows of proxy caches since the process started."""

    hits: int = 0
    misses: int = 0
    upstream_errors: int = 0
    fetched_bytes: int = 0


@dataclass(frozen=True, slots=True)
class BlobStream:
    """A blob on its way from upstream: its size and its bytes as they arrive."""

    digest: str
    size: int
    chunks: AsyncIterator[bytes]


def _split(repository: str) -> tuple[str, str]:
    registry, _, image = repository.partition("/")
    return registry, image


_NAMESPACE = re.compile(
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
)


def _printable(text: str) -> bool:
    return text.isascii() and text.isprintable() and " " not in text


def check_draft(draft: UpstreamDraft) -> UpstreamDraft:
    """The draft with its URL and namespace normalised; `InvalidUpstream` naming the field."""
    url = draft.url.strip().rstrip("/")
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port
    except ValueError:  # an unclosed bracket, a port out of range
        host = None
    if not host or not _printable(url) or parts.scheme not in ("http", "https"):
        raise InvalidUpstream("proxy_cache.url", "the upstream must be an http(s) URL")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidUpstream(
            "proxy_cache.url", "the upstream URL takes no query, fragment or credentials"
        )
    namespace = draft.namespace.strip().strip("/")
    if namespace and not _NAMESPACE.fullmatch(namespace):
        raise InvalidUpstream(
            "proxy_cache.namespace",
            "the namespace is a repository path like 'library' (lowercase letters, digits, "
            "separators)",
        )
    seconds = draft.revalidate_seconds
    if seconds is not None and not 0 <= seconds <= MAX_REVALIDATE_SECONDS:
        raise InvalidUpstream(
            "proxy_cache.revalidate_seconds",
            f"the revalidation interval is 0 to {MAX_REVALIDATE_SECONDS} seconds",
        )
    username = (draft.username or "").strip() or None
    if username is not None and not username.isprintable():
        raise InvalidUpstream("proxy_cache.username", "the user name holds unprintable characters")
    return UpstreamDraft(url, namespace, username, draft.password, draft.verify_tls, seconds)


class ProxyCacheService:
    def __init__(
        self,
        uow: UnitOfWork[ProxyCacheTx],
        artifacts: ArtifactService,
        uploads: UploadService,
        upstreams: UpstreamFactory,
        box: SecretBox,
        blocking: Blocking,
        *,
        revalidate_seconds: int = DEFAULT_REVALIDATE_SECONDS,
        clock: Clock = utcnow,
    ) -> None:
        self._uow = uow
        self._artifacts = artifacts
        self._uploads = uploads
        self._upstreams = upstreams
        self._box = box
        self._blocking = blocking
        self._revalidate = revalidate_seconds
        self._clock = clock
        self._known: dict[str, Upstream] = {}
        self._known_at = -KNOWN_SECONDS
        self._clients: dict[Upstream, UpstreamRegistry] = {}
        self._flights = Flights()
        self._refreshing: dict[str, asyncio.Future[str]] = {}
        self._lock = threading.Lock()
        self.counters = Counters()

    # configuring (REST, in the request's transaction) -----------------------------------

    def attach(self, registry: str, draft: UpstreamDraft) -> Upstream:
        """Make a registry (just created, empty) a proxy cache of the draft's upstream."""
        draft = check_draft(draft)
        try:
            self._upstreams.check_url(draft.url)
        except RefusedAddress as exc:
            raise RefusedAddress(str(exc), "proxy_cache.url") from None
        values = {
            "url": draft.url,
            "namespace": draft.namespace,
            "username": draft.username,
            "secret": self._box.seal(draft.password) if draft.password else None,
            "verify_tls": draft.verify_tls,
            "revalidate_seconds": draft.revalidate_seconds,
        }
        with self._uow(write=True) as tx:
            found = tx.registries.get_registry(registry)
            if found is None:
                raise RegistryNotFound(registry)
            tx.proxy_cache.add_upstream(found.id, values, self._clock())
            attached = {u.registry: u for u in tx.proxy_cache.list_upstreams()}[registry]
        self.forget_registries()  # this process knows at once
        return attached

    def forget_registries(self) -> None:
        """Read which registries are proxy caches again at the next pull (one was made or
        deleted here; other processes notice within `KNOWN_SECONDS`)."""
        self._known_at = -KNOWN_SECONDS

    def upstreams(self) -> dict[str, Upstream]:
        """Every proxy-cache registry's upstream, by registry name."""
        with self._uow() as tx:
            return {u.registry: u for u in tx.proxy_cache.list_upstreams()}

    def marks(self, artifact_ids: list[int]) -> dict[int, CacheMark]:
        """The cache marks of those artifacts that came from an upstream."""
        if not artifact_ids:
            return {}
        with self._uow() as tx:
            return tx.proxy_cache.marks(artifact_ids)

    # the pull path --------------------------------------------------------------------

    async def upstream_of(self, registry: str) -> Upstream | None:
        """The registry's upstream if it is a proxy cache (from a list refreshed every few
        seconds: a pull into any other registry costs no query)."""
        if time.monotonic() - self._known_at >= KNOWN_SECONDS:
            self._known = await self._blocking.read(self.upstreams)
            self._known_at = time.monotonic()
        return self._known.get(registry)

    def interval(self, upstream: Upstream) -> timedelta:
        seconds = upstream.revalidate_seconds
        return timedelta(seconds=self._revalidate if seconds is None else seconds)

    async def refresh_manifest(self, upstream: Upstream, repository: str, reference: str) -> str:
        """Make the store answer a manifest request as upstream would, as far as it can;
        returns how (`HIT`, `MISS`, `REVALIDATED` or `STALE`). Raises ManifestNotFound
        when upstream has no such manifest, UpstreamUnavailable when it cannot answer and
        nothing is cached."""
        if is_digest(reference):
            return await self._manifest_by_digest(upstream, repository, reference)
        if not is_valid_tag(reference):
            raise ManifestNotFound(repository, reference)  # no such tag can exist
        registry, image = _split(repository)
        state = await self._blocking.read(self._tag_state, registry, image, reference)
        now = self._clock()
        if state and state.revalidated_at and now - state.revalidated_at < self.interval(upstream):
            return self._count(HIT)
        return await self._once(
            f"{repository}:{reference}",
            lambda: self._follow_tag(upstream, repository, reference, state),
        )

    async def _follow_tag(
        self, upstream: Upstream, repository: str, reference: str, state: CachedTag | None
    ) -> str:
        """Ask upstream what the tag names now, and follow it (or serve what is cached)."""
        registry, image = _split(repository)
        try:
            digest = await self._ask(upstream, lambda c: c.manifest_digest(image, reference))
            if digest is None:
                raise ManifestNotFound(repository, reference)
            if state is not None and state.digest == digest:
                source = upstream.source(image)
                await self._blocking.run(self._mark, state.image_id, source, digest, reference)
                return self._count(REVALIDATED)
            manifest = await self._ask(upstream, lambda c: c.get_manifest(image, digest))
        except UpstreamUnavailable as exc:
            if state is None:
                raise
            log.warning(
                "proxy cache %s serves %s:%s stale: %s", registry, repository, reference, exc
            )
            return self._count(STALE)
        if manifest is None:
            raise ManifestNotFound(repository, reference)
        try:
            await self._blocking.run(self._store, upstream, repository, reference, manifest)
        except Protected as exc:  # a protection policy keeps the tag where it is
            log.info("proxy cache %s keeps %s:%s: %s", registry, repository, reference, exc)
            return self._count(KEPT)
        return self._count(MISS)

    async def _manifest_by_digest(self, upstream: Upstream, repository: str, digest: str) -> str:
        parse_digest(digest)
        try:
            await self._blocking.read(
                self._artifacts.get_manifest, repository, digest, with_body=False
            )
            return self._count(HIT)
        except RegistryNotFound:
            raise
        except NotFound:  # no such manifest, or not even the image yet
            pass
        return await self._once(
            f"{repository}@{digest}", lambda: self._fetch_manifest(upstream, repository, digest)
        )

    async def _fetch_manifest(self, upstream: Upstream, repository: str, digest: str) -> str:
        image = _split(repository)[1]
        manifest = await self._ask(upstream, lambda c: c.get_manifest(image, digest))
        if manifest is None:
            raise ManifestNotFound(repository, digest)
        await self._blocking.run(self._store, upstream, repository, digest, manifest)
        return self._count(MISS)

    async def _once(self, key: str, ask: Callable[[], Awaitable[str]]) -> str:
        """`ask()` once for all the requests that want `key` refreshed at the same time (a
        burst of first pulls of a tag asks upstream once): the others wait for it and are
        answered from what it stored, or fail as it did."""
        while (running := self._refreshing.get(key)) is not None:
            try:
                outcome = await asyncio.shield(running)
            except asyncio.CancelledError:
                if running.cancelled():  # the asking request went away: ask again
                    continue
                raise
            return STALE if outcome == STALE else self._count(HIT)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._refreshing[key] = future
        try:
            outcome = await ask()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # those waiting raise it; none waiting is fine too
            raise
        finally:
            self._refreshing.pop(key, None)
        future.set_result(outcome)
        return outcome

    def _tag_state(self, registry: str, image: str, tag: str) -> CachedTag | None:
        with self._uow() as tx:
            return tx.proxy_cache.tag_state(registry, image, tag)

    def _mark(self, image_id: int, source: str, digest: str, tag: str | None) -> None:
        with self._uow(write=True) as tx:
            tx.proxy_cache.mark(image_id, digest, source, tag, self._clock())

    def _store(
        self, upstream: Upstream, repository: str, reference: str, manifest: UpstreamManifest
    ) -> None:
        """The manifest as an artifact of the registry (under the tag, if the reference is
        one) with its mark, in one transaction. Its blobs and children need not be there:
        they are fetched when a client asks for them."""
        tag = None if is_digest(reference) else reference
        image = _split(repository)[1]
        with self._uow.scope(write=True):
            self._artifacts.put_manifest(
                repository, reference, manifest.media_type, manifest.body, cached=True
            )
            image_id = self._artifacts.image_id(repository)
            with self._uow(write=True) as tx:
                now = self._clock()
                tx.proxy_cache.mark(image_id, manifest.digest, upstream.source(image), tag, now)

    async def blob_size(self, upstream: Upstream, repository: str, digest: str) -> int:
        """A blob's size as upstream says it (a HEAD of a blob not cached)."""
        parse_digest(digest)
        image = _split(repository)[1]
        size = await self._ask(upstream, lambda c: c.blob_size(image, digest))
        if size is None:
            raise BlobNotFound(digest)
        self._count(MISS)
        return size

    async def fetch_blob(
        self, upstream: Upstream, repository: str, digest: str
    ) -> BlobStream | None:
        """A blob not cached: its bytes as they come from upstream and go into the store,
        or None when another request's fetch is too far along to join (it is in the store
        once this returns: serve it from there)."""
        parse_digest(digest)
        # One flight per image and blob: the blob is linked into the image it was fetched
        # for, with that registry's upstream and credentials.
        flight, _ = self._flights.get_or_start(
            f"{repository}@{digest}", lambda f: self._fetch(f, upstream, repository, digest)
        )
        queue = flight.join()
        if queue is None:
            await flight.done.wait()
            if flight.error is not None:
                raise _as_domain_error(flight.error, digest)
            return None
        await flight.sized.wait()
        if flight.size is None:
            flight.leave(queue)
            raise _as_domain_error(flight.error, digest)
        self._count(MISS)
        return BlobStream(digest, flight.size, drain(flight, queue))

    async def _fetch(
        self, flight: Flight, upstream: Upstream, repository: str, digest: str
    ) -> None:
        image = _split(repository)[1]
        size = await self._ask(upstream, lambda c: c.blob_size(image, digest))
        flight.size = size
        flight.sized.set()
        if size is None:
            return
        client = await self._client(upstream)
        chunks = self._counted(upstream, client.read_blob(image, digest, size))
        try:
            await self._uploads.upload_whole(repository, digest, flight.tee(chunks))
        except Exception as exc:
            log.warning("proxy cache %s: fetching %s failed: %s", upstream.registry, digest, exc)
            raise
        log.info("proxy cache %s: %s cached (%d bytes)", upstream.registry, digest, size)

    async def _counted(
        self, upstream: Upstream, chunks: AsyncIterator[bytes]
    ) -> AsyncIterator[bytes]:
        try:
            async for chunk in chunks:
                with self._lock:
                    self.counters.fetched_bytes += len(chunk)
                yield chunk
        except Exception as exc:
            raise self._failed(upstream, exc) from exc

    # upstream -------------------------------------------------------------------------

    async def _ask(self, upstream: Upstream, call: Callable[[UpstreamRegistry], Awaitable[T]]) -> T:
        """One call to upstream; any failure is an UpstreamUnavailable, counted."""
        try:
            client = await self._client(upstream)
            return await call(client)
        except Exception as exc:
            raise self._failed(upstream, exc) from exc

    def _failed(self, upstream: Upstream, exc: Exception) -> UpstreamUnavailable:
        if isinstance(exc, UpstreamUnavailable):
            return exc
        with self._lock:
            self.counters.upstream_errors += 1
        reason = str(exc) or type(exc).__name__
        return UpstreamUnavailable(f"upstream {upstream.url} cannot answer: {reason}")

    async def _client(self, upstream: Upstream) -> UpstreamRegistry:
        client = self._clients.get(upstream)
        if client is None:
            sealed = await self._blocking.read(self._secret, upstream.registry_id)
            password = self._box.open(sealed) if sealed is not None else None
            client = self._clients.setdefault(upstream, self._upstreams.open(upstream, password))
        return client

    def _secret(self, registry_id: int) -> bytes | None:
        with self._uow() as tx:
            return tx.proxy_cache.upstream_secret(registry_id)

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()

    def served_from_store(self) -> None:
        """Count a blob of a proxy-cache registry served from the store (a hit)."""
        self._count(HIT)

    def _count(self, outcome: str) -> str:
        with self._lock:
            if outcome == MISS:
                self.counters.misses += 1
            else:
                self.counters.hits += 1
        return outcome


def _as_domain_error(error: BaseException | None, digest: str) -> Exception:
    if isinstance(error, UpstreamUnavailable):
        return error
    if error is None:
        return BlobNotFound(digest)
    return UpstreamUnavailable(f"fetching {digest} failed: {error}")
