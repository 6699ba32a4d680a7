"""Request-scoped dependencies: the domain services, paging parameters, path names."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, TypeVar
from urllib.parse import unquote

from fastapi import Depends, Path, Query, Request

from moorage.api.rest.services import RestServices
from moorage.domain.content.browse import check_page
from moorage.domain.kernel.model import PageRequest

T = TypeVar("T")


def services(request: Request) -> RestServices:
    found: RestServices = request.app.state.services
    return found


def page_request(
    page: Annotated[int, Query(ge=1, le=1_000_000, description="1-based page number")] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 25,
    q: Annotated[str | None, Query(max_length=255, description="search text")] = None,
    sort: Annotated[
        str | None, Query(max_length=32, description="a field, '-' in front for descending")
    ] = None,
) -> PageRequest:
    return PageRequest(page=page, page_size=page_size, search=q or None, sort=sort)


def page_of(
    items: Sequence[T],
    paging: PageRequest,
    sorts: Mapping[str, Callable[[T], Any]],
    text: Callable[[T], str],
) -> tuple[list[T], int]:
    """Search, sort and page a short list held in memory (projects, members, keys…).

    The first of `sorts` is the default order; an unknown sort field is refused (400)."""
    check_page(paging, tuple(sorts))
    found = [item for item in items if not paging.search or paging.search in text(item)]
    name = paging.sort or next(iter(sorts))
    found.sort(key=sorts[name.lstrip("-")], reverse=name.startswith("-"))
    return found[paging.offset : paging.offset + paging.page_size], len(found)


def image_name(
    image: Annotated[str, Path(description="image name inside the registry; '/' as %2F")],
) -> str:
    return unquote(image)


Services = Annotated[RestServices, Depends(services)]
Paging = Annotated[PageRequest, Depends(page_request)]
ImageName = Annotated[str, Depends(image_name)]
