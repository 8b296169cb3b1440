"""Every abonent on every page: the list call learned from the UI, replayed page by page.

The Abonents tab shows the app's own ``AbonentBrowserGwtService.list`` call; we take that call
as the template (its strong name, signatures and enum values are the live build's), change the
page index, page size and filter slots, and replay it — all pages after the first in parallel,
within the session's concurrency limit.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable

from flows import navigate
from scraper.browser.learned import Learned
from scraper.browser.livebuild import LiveBuild
from scraper.browser.session import BrowserSession
from scraper.errors import FlowError
from scraper.gwt import Instance, Request, parse_request
from scraper.models import AbonentRow, Filters
from scraper.profile import LIST_RECORD, LIST_REQUEST, LIST_RESPONSE

log = logging.getLogger(__name__)

SERVICE = "AbonentBrowserGwtService"
PAGE_SIZE = 100

# [R] docs/reconstruction.md: how the filter panel travels. The deletion-mark slot is FALSE for
# "Все" (the captured default), null for "without mark", TRUE for "marked"; the two others are
# null for "Все", FALSE for the first choice, TRUE for the second.
_MARKED = {"all": False, "no": None, "yes": True}
_TRI = {"all": None, "no": False, "yes": True}


def list_request(learned: Learned, session: BrowserSession, *, page: int, size: int,
                 filters: Filters) -> Request:
    """The live build's list call for one page (the app's own call with slots changed)."""
    template = learned.template(SERVICE, "list")
    request = parse_request(template.request_body, session.registry)
    model = request.param(0)
    if not isinstance(model, Instance):
        raise FlowError("the list call's parameter is not the request model any more")
    model = session.live.view(model, LIST_REQUEST)
    request.params[0].value = model
    fields = model.fields
    fields["exactMatch"] = False  # plain bools: the writer shares Boolean.FALSE like GWT does
    fields["searchText"] = None
    fields["deletionMarkFilter"] = _MARKED[filters.marked]
    fields["blockedFilter"] = _TRI[filters.blocked]
    fields["activeFilter"] = _TRI[filters.active]
    fields["pageIndex"] = page
    fields["pageSize"] = size
    if session.enterprise_id is not None:
        fields["enterpriseId"] = session.enterprise_id
    return learned.retarget(request)


def rows_of(value: object, live: LiveBuild | None = None) -> tuple[int, list[AbonentRow]]:
    """(total count, rows) of a list answer, named by ``live`` (the session's build)."""
    if not isinstance(value, Instance):
        raise FlowError("the list answer is not the response model")
    if live is not None:
        value = live.view(value, LIST_RESPONSE)
    rows = []
    for record in value.get("records") or []:
        if live is not None:
            record = live.view(record, LIST_RECORD)
        rows.append(AbonentRow(
            abonent_id=record.get("id"), name=record.get("name"), phone=record.get("phone"),
            active=record.get("active"), blocked=record.get("blocked"),
            marked_for_deletion=record.get("markedForDeletion"),
            abonent_type=record.get("abonentType"), bound=record.get("bound"),
        ))
    return int(value.get("count") or 0), rows


async def learn_list_call(session: BrowserSession) -> None:
    """Show the Abonents tab so that the app's own list call is captured (a learner: a
    re-learn walks there again, since the app's start may not have made the call yet)."""
    await navigate.abonents_tab(session)
    session.learned.template(SERVICE, "list")  # none of this build's yet: the walk tries again


async def ensure_list_template(session: BrowserSession) -> None:
    session.add_learner(learn_list_call)
    try:
        session.learned.template(SERVICE, "list")
    except FlowError:
        await session.ui_walk("open the Abonents tab", lambda: learn_list_call(session))


async def list_abonents(session: BrowserSession, filters: Filters | None = None, *,
                        page_size: int = PAGE_SIZE,
                        progress: Callable[[int, int], None] | None = None,
                        on_rows: Callable[[list[AbonentRow]], None] | None = None,
                        after_first: Callable[[], Awaitable[None]] | None = None,
                        ) -> list[AbonentRow]:
    """All abonents matching ``filters``, every page, in the cabinet's order.

    ``on_rows`` sees each page's rows as soon as that page arrives (pages after the first in
    any order), so that work on them can start before the last page is in; ``after_first`` is
    awaited between the first page and the others (nothing of ours is in flight then).
    """
    filters = filters or Filters()
    await ensure_list_template(session)

    async def page(index: int) -> tuple[int, list[AbonentRow]]:
        response = await session.call(
            lambda learned: list_request(learned, session, page=index, size=page_size,
                                         filters=filters), read_only=True)
        total, rows = rows_of(response.value, session.live)
        if on_rows is not None:
            on_rows(rows)
        return total, rows

    total, rows = await page(0)
    if after_first is not None:
        await after_first()
    pages = max(1, math.ceil(total / page_size))
    if progress:
        progress(1, pages)
    done = 1

    async def counted(index: int) -> tuple[int, list[AbonentRow]]:
        nonlocal done
        result = await page(index)
        done += 1
        if progress:
            progress(done, pages)
        return result

    rest = await asyncio.gather(*(counted(i) for i in range(1, pages)))
    for _, more in rest:
        rows.extend(more)
    if len(rows) != total:
        raise FlowError(f"the list changed while paging: expected {total} rows, got {len(rows)}")
    ids = {row.abonent_id for row in rows}
    if len(ids) != len(rows):
        raise FlowError("the same abonent appeared twice while paging (the list changed?)")
    log.info("listed abonents", extra={"count": total, "pages": pages})
    return rows
