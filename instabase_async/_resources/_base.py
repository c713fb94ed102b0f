"""What every namespace shares: the client it belongs to, and the one paginator of all listings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from typing import TYPE_CHECKING, TypeVar

from .._http import HTTP

if TYPE_CHECKING:
    from .._client import AsyncInstabase

__all__ = ["Resource", "paginate", "paginate_by_offset"]

T = TypeVar("T")
C = TypeVar("C", bound=Hashable)


class Resource:
    """A namespace bound to one client."""

    __slots__ = ("_client",)

    def __init__(self, client: AsyncInstabase) -> None:
        self._client = client

    @property
    def _http(self) -> HTTP:
        # The one seam between a client and the package: its HTTP sender.
        return self._client._http


async def paginate(
    first: C, fetch: Callable[[C], Awaitable[tuple[Sequence[T], C | None]]]
) -> AsyncIterator[T]:
    """Every item of every page. `fetch(cursor)` returns a page and the next cursor, None at the
    end; a cursor seen before also ends the listing, so a server that loops cannot loop us."""
    seen: set[C] = set()
    cursor: C | None = first
    while cursor is not None:
        seen.add(cursor)
        items, cursor = await fetch(cursor)
        for item in items:
            yield item
        if cursor in seen:
            return


def paginate_by_offset(page_size: int, fetch: Callable[[int], Awaitable[Sequence[T]]]) -> AsyncIterator[T]:
    """Pages by `offset`/`limit`: `fetch(offset)` returns up to `page_size` items; a short page ends it."""

    async def page(offset: int) -> tuple[Sequence[T], int | None]:
        items = await fetch(offset)
        return items, offset + len(items) if len(items) >= page_size else None

    return paginate(0, page)
