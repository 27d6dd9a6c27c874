"""gRPC edge of the catalog admin API (hosted by the gateway): validate, delegate, convert."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from recsys.v1 import catalog_pb2, catalog_pb2_grpc

from core.errors import AlreadyExists, InvalidArgument
from core.items import ItemTable
from core.store.catalog_log import CatalogItem, CatalogWriter
from core.store.clock import CatalogClock
from core.store.item_meta import TAG_SEPARATOR, ItemMeta, generated_cover_url
from core.versioned import Versioned
from gateway.limits import KeyedBuckets, check

log = logging.getLogger(__name__)
MAX_DURATION_S = 86_400
MAX_TITLE, MAX_AUTHOR_NAME, MAX_COVER_URL, MAX_TAGS, MAX_TAG = 200, 100, 512, 16, 32


def parse_display(request) -> ItemMeta:
    """The display fields of a PublishItemRequest, checked."""
    if len(request.title) > MAX_TITLE:
        raise InvalidArgument("title", f"at most {MAX_TITLE} characters, got {len(request.title)}")
    if len(request.author_name) > MAX_AUTHOR_NAME:
        raise InvalidArgument("author_name", f"at most {MAX_AUTHOR_NAME} characters")
    cover = request.cover_url
    if len(cover) > MAX_COVER_URL or (cover and not cover.startswith(("http://", "https://", "/"))):
        raise InvalidArgument("cover_url", f"an http(s) URL or a path starting with '/', "
                                           f"at most {MAX_COVER_URL} characters")
    if len(request.tags) > MAX_TAGS:
        raise InvalidArgument("tags", f"at most {MAX_TAGS} tags, got {len(request.tags)}")
    for i, tag in enumerate(request.tags):
        if not 1 <= len(tag) <= MAX_TAG or TAG_SEPARATOR in tag or not tag.isprintable():
            raise InvalidArgument(f"tags[{i}]", f"1..{MAX_TAG} printable characters without ','")
    return ItemMeta(request.title, cover or generated_cover_url(request.item_id), request.author_name,
                    float(request.duration_s), tuple(request.tags))


def parse_publish(request, n_regions: int, now_ms: int | None = None, skew_ms: int = 0) -> CatalogItem:
    """The item to publish; a publish_ms (0 = now) must lie within `skew_ms` of `now_ms`
    (catalog time): a video dated in the future would keep the fresh channel's top weight
    until then, one dated long ago is an import, not a publish."""
    for name in ("item_id", "author_id", "category"):
        if getattr(request, name) < 1:
            raise InvalidArgument(name, f"must be >= 1, got {getattr(request, name)}")
    if not 0 < request.duration_s <= MAX_DURATION_S:
        raise InvalidArgument("duration_s", f"must be in (0, {MAX_DURATION_S}], got {request.duration_s}")
    if request.publish_ms < 0:
        raise InvalidArgument("publish_ms", f"must be >= 0, got {request.publish_ms}")
    if request.publish_ms and now_ms is not None and abs(request.publish_ms - now_ms) > skew_ms:
        raise InvalidArgument("publish_ms", f"must be 0 (now) or within {skew_ms} ms of now ({now_ms}), "
                                            f"got {request.publish_ms}")
    if not 0 <= request.region <= n_regions:
        raise InvalidArgument("region", f"must be 0..{n_regions}, got {request.region}")
    return CatalogItem(request.item_id, request.author_id, request.category, float(request.duration_s),
                       request.publish_ms, request.region)


class CatalogServicer(catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(self, writer: CatalogWriter, clock: CatalogClock, items: Versioned[ItemTable], n_regions: int,
                 publish_limit: KeyedBuckets | None = None, publish_skew_ms: int = 5 * 60 * 1000,
                 write_meta: Callable[[int, ItemMeta], Awaitable[None]] | None = None):
        self.writer, self.clock, self._items, self.n_regions = writer, clock, items, n_regions
        self.publish_limit = publish_limit or KeyedBuckets(0, 0)
        self.publish_skew_ms = publish_skew_ms
        self.write_meta = write_meta

    @property
    def items(self) -> ItemTable | None:
        """The live two-tower version's item table (followed; None before any version)."""
        return self._items.value

    async def PublishItem(self, request, context) -> catalog_pb2.PublishItemResponse:
        await self.clock.refresh()
        item = parse_publish(request, self.n_regions, self.clock.now_ms(), self.publish_skew_ms)
        check(self.publish_limit, "publish")
        meta = parse_display(request)
        items = self.items
        if items is not None and items.index_of([item.item_id])[0] >= 0:
            raise AlreadyExists(f"item_id: {item.item_id} is in the catalog already")
        if not item.publish_ms:
            item = CatalogItem(**{**item.__dict__, "publish_ms": self.clock.now_ms()})
        await self.writer.publish(item)
        if self.write_meta is not None:
            # After the publish, so a refused publish never overwrites another video's display
            # info; until this lands the video is served without it (counted, never failed).
            await self.write_meta(item.item_id, meta)
        log.info("published", extra={"item_id": item.item_id, "author_id": item.author_id})
        return catalog_pb2.PublishItemResponse(item_id=item.item_id, publish_ms=item.publish_ms)

    async def RemoveItem(self, request, context) -> catalog_pb2.RemoveItemResponse:
        if request.item_id < 1:
            raise InvalidArgument("item_id", f"must be >= 1, got {request.item_id}")
        if len(request.reason) > 256:
            raise InvalidArgument("reason", f"at most 256 characters, got {len(request.reason)}")
        await self.writer.remove(request.item_id)
        log.info("removed", extra={"item_id": request.item_id, "reason": request.reason})
        return catalog_pb2.RemoveItemResponse()
