"""gRPC edge of the recall service: convert, delegate to the pipeline, convert back."""
from __future__ import annotations

from recsys.v1 import recall_pb2, recall_pb2_grpc

from core.errors import InvalidArgument
from core.recall.pipeline import RecallPipeline
from services.common.convert import context_from_proto, state_from_proto


class RecallServicer(recall_pb2_grpc.RecallServiceServicer):
    def __init__(self, pipeline: RecallPipeline):
        self.pipeline = pipeline

    async def Retrieve(self, request: recall_pb2.RetrieveRequest, context) -> recall_pb2.RetrieveResponse:
        if request.user.user_id < 1:
            raise InvalidArgument("user.user_id", f"must be >= 1, got {request.user.user_id}")
        overrides: dict[str, int] = {}
        for i, q in enumerate(request.quotas):
            if q.channel in overrides:
                raise InvalidArgument(f"quotas[{i}].channel", f"{q.channel!r} given twice")
            overrides[q.channel] = q.quota
        result = await self.pipeline.retrieve(context_from_proto(request.user),
                                              state_from_proto(request.state), overrides,
                                              request.limit)
        c = result.candidates
        return recall_pb2.RetrieveResponse(
            item_ids=c.item_ids.tolist(), scores=c.scores.tolist(),
            channel_mask=c.channel_mask.tolist(), channels=result.channels,
            channel_stats=[recall_pb2.ChannelStat(channel=s.channel, returned=s.returned,
                                                  latency_ms=s.latency_ms, timed_out=s.timed_out,
                                                  error=s.error) for s in result.channel_stats],
            filter_stats=[recall_pb2.FilterStat(filter=n, removed=r) for n, r in result.filter_stats],
            fallback=result.fallback)
