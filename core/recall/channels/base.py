"""The recall channel contract.

A channel finds candidates for one user in one way. It returns at most `request.fetch`
items, best first, without duplicates, each with a channel-specific score. It must not
raise for an unknown user (return fewer or no items instead). The pipeline enforces the
timeout, so a channel need not.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

from core.context import RequestContext
from core.store.user_state import UserStateData


@dataclass(frozen=True)
class ChannelRequest:
    context: RequestContext
    state: UserStateData
    quota: int   # candidates the channel should contribute after filtering
    fetch: int   # candidates to return: quota plus headroom for the seen filter
    now_ms: int          # wall-clock time of the request
    catalog_now_ms: int  # the same instant in catalog time (publish times are in it)


@dataclass(frozen=True)
class ChannelResult:
    item_ids: np.ndarray  # int64 [n], best first, distinct
    scores: np.ndarray    # float32 [n], higher is better (channel-specific scale)

    @classmethod
    def empty(cls) -> ChannelResult:
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))

    def __len__(self) -> int:
        return int(self.item_ids.size)


class Channel(abc.ABC):
    name: str

    @abc.abstractmethod
    async def retrieve(self, request: ChannelRequest) -> ChannelResult: ...
