"""The public API in an imported dataset's own ids (core/ids.py): `external_user_id` /
`external_item_id` in requests become the dense ids everything inside uses, and answers
carry `external_item_id` back. Requests with plain `user_id` / `item_id` pass untouched,
so the synthetic world and existing clients see no change.
"""
from __future__ import annotations

from core.errors import InvalidArgument
from core.ids import MAX_EXTERNAL_ID, IdMap


def _check(field: str, value: str) -> None:
    if len(value) > MAX_EXTERNAL_ID or not value.isprintable():
        raise InvalidArgument(field, f"at most {MAX_EXTERNAL_ID} printable characters")


class ExternalIds:
    def __init__(self, ids: IdMap | None):
        self.ids = ids

    def _map(self, field: str) -> IdMap:
        if self.ids is None:
            raise InvalidArgument(field, "this gateway serves no imported dataset (no GATEWAY_ID_MAP)")
        return self.ids

    def _user(self, message, prefix: str = "") -> None:
        if not message.external_user_id:
            return
        field = f"{prefix}external_user_id"
        _check(field, message.external_user_id)
        if message.user_id:
            raise InvalidArgument(field, "give user_id or external_user_id, not both")
        message.user_id = self._map(field).user_id(message.external_user_id)

    def _item(self, message, prefix: str = "") -> None:
        if not message.external_item_id:
            return
        field = f"{prefix}external_item_id"
        _check(field, message.external_item_id)
        if message.item_id:
            raise InvalidArgument(field, "give item_id or external_item_id, not both")
        item = self._map(field).item_id(message.external_item_id)
        if item is None:
            raise InvalidArgument(field, f"unknown item {message.external_item_id[:MAX_EXTERNAL_ID]!r}")
        message.item_id = item

    def recommend(self, request):
        """A copy of the request in dense ids (the caller's message is left as it was)."""
        if not request.external_user_id:
            return request
        out = type(request)()
        out.CopyFrom(request)
        self._user(out)
        return out

    def explain(self, request):
        if not (request.external_user_id or request.external_item_id):
            return request
        out = type(request)()
        out.CopyFrom(request)
        self._user(out)
        self._item(out)
        return out

    def events(self, events):
        if not any(e.external_user_id or e.external_item_id for e in events):
            return events
        out = []
        for i, e in enumerate(events):
            copy = type(e)()
            copy.CopyFrom(e)
            self._user(copy, f"events[{i}].")
            self._item(copy, f"events[{i}].")
            out.append(copy)
        return out

    def item_source(self, item_id: int) -> str:
        return self.ids.item_source(item_id) if self.ids is not None else ""
