"""The Docker token flow as a client does it, for httpx: answer a Bearer challenge by asking
the realm for a token with Basic credentials, then retry with the token."""

from __future__ import annotations

import re
from collections.abc import Generator

import httpx

_PARAM_RE = re.compile(r'(\w+)="([^"]*)"')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.partition(" ")
    return scheme.lower(), dict(_PARAM_RE.findall(rest))


_REPOSITORY_RE = re.compile(r"^/v2/(.+?)/(?:manifests|blobs|tags|referrers)/")


def _repository(path: str) -> str | None:
    found = _REPOSITORY_RE.match(path)
    return found.group(1) if found else None


class DockerTokenAuth(httpx.Auth):
    """One token per repository, asked for with every action so it serves all later requests
    (only the first request to a repository meets a challenge). The body is read up front so
    that first request can be replayed."""

    requires_request_body = True

    def __init__(self, username: str, password: str) -> None:
        self._basic = httpx.BasicAuth(username, password)
        self._tokens: dict[str, str] = {}

    def fetch_token(self, realm: str, service: str, scope: str | None) -> str:
        params = {"service": service}
        if scope:
            params["scope"] = scope
        response = httpx.get(realm, params=params, auth=self._basic, timeout=30)
        response.raise_for_status()
        return str(response.json()["token"])

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        repository = _repository(request.url.path)
        key = repository or request.url.path
        token = self._tokens.get(key)
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        scheme, params = parse_challenge(response.headers.get("www-authenticate", ""))
        if scheme != "bearer":
            return
        scope = f"repository:{repository}:pull,push,delete" if repository else params.get("scope")
        if request.url.path.startswith("/v2/_catalog"):
            scope = "registry:catalog:*"
        token = self.fetch_token(params["realm"], params.get("service", ""), scope)
        self._tokens[key] = token
        request.headers["Authorization"] = f"Bearer {token}"
        yield request
