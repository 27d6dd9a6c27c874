"""gRPC edge of the gateway: validate, delegate, convert."""
from __future__ import annotations

from recsys.v1 import common_pb2, gateway_pb2, gateway_pb2_grpc

from core import metrics
from core.store.events import EventWriter
from core.store.impressions import ImpressionLog
from gateway.experiments import Experiments
from gateway.identity import UserTokens
from gateway.ids import ExternalIds
from gateway.impressions import impression_of
from gateway.limits import KeyedBuckets, check
from gateway.pipeline import RecommendPipeline
from gateway.validation import parse_events, parse_explain, parse_recommend


class GatewayServicer(gateway_pb2_grpc.GatewayServiceServicer):
    def __init__(self, pipeline: RecommendPipeline, events: EventWriter, max_count: int,
                 max_events: int, n_regions: int, experiments: Experiments | None = None,
                 user_limit: KeyedBuckets | None = None, identity: UserTokens | None = None,
                 impressions: ImpressionLog | None = None, ids: ExternalIds | None = None):
        self.pipeline, self.events, self.impressions = pipeline, events, impressions
        # An imported dataset's own ids at the edge (gateway/ids.py); none for the synthetic world.
        self.ids = ids or ExternalIds(None)
        self.user_limit = user_limit or KeyedBuckets(0, 0)
        self.identity = identity
        self.max_count, self.max_events, self.n_regions = max_count, max_events, n_regions
        self.experiments = experiments or Experiments()

    def _check_user(self, context, user_ids: list[int], privileged: bool = False) -> None:
        if self.identity is not None:
            self.identity.check(context.invocation_metadata() or (), user_ids, privileged)

    async def Recommend(self, request: gateway_pb2.RecommendRequest, context) -> gateway_pb2.RecommendResponse:
        inp = parse_recommend(self.ids.recommend(request), self.max_count, self.n_regions)
        self._check_user(context, [inp.user_id], privileged=inp.debug or bool(inp.experiment))
        check(self.user_limit, "per_user", inp.user_id)
        assignment = self.experiments.assign(inp.user_id, inp.experiment)
        trace = await self.pipeline.serve(inp, context.time_remaining(), assignment)
        feed = trace.feed
        if self.impressions is not None:  # written in the background; never fails the request
            self.impressions.record(impression_of(inp, trace))
        metrics.RECOMMENDS.labels(feed.experiment or "default").inc()
        return gateway_pb2.RecommendResponse(
            request_id=feed.request_id,
            items=[gateway_pb2.RecommendedItem(
                item_id=i.item_id, score=i.score, channels=i.channels,
                recall_position=i.recall_position, rank_position=i.rank_position,
                author_id=i.author_id, category=i.category, head_scores=i.head_scores,
                rerank_reason=i.rerank_reason, title=i.meta.title, cover_url=i.meta.cover_url,
                author_name=i.meta.author_name, duration_s=i.meta.duration_s, tags=i.meta.tags,
                external_item_id=self.ids.item_source(i.item_id))
                for i in feed.items],
            models=[common_pb2.ModelRef(name=n, version=v) for n, v in feed.models],
            degraded=feed.degraded, experiment=feed.experiment,
            latencies=[gateway_pb2.StageLatency(stage=k, ms=v) for k, v in feed.latencies_ms.items()])

    async def Explain(self, request: gateway_pb2.ExplainRequest, context) -> gateway_pb2.ExplainResponse:
        inp, item_id = parse_explain(self.ids.explain(request), self.max_count, self.n_regions)
        self._check_user(context, [inp.user_id])
        check(self.user_limit, "per_user", inp.user_id)
        e = await self.pipeline.explain(inp, item_id, context.time_remaining(),
                                        self.experiments.assign(inp.user_id))
        return gateway_pb2.ExplainResponse(
            item_id=e.item_id, verdict=e.verdict, reason=e.reason, channels=e.channels,
            recall_position=e.recall_position, rank_position=e.rank_position,
            feed_position=e.feed_position, experiment=e.experiment, degraded=e.degraded,
            external_item_id=self.ids.item_source(e.item_id))

    async def ReportEvents(self, request: gateway_pb2.ReportEventsRequest, context) -> gateway_pb2.ReportEventsResponse:
        events = parse_events(self.ids.events(request.events), self.max_events)
        self._check_user(context, [e.user_id for e in events])
        for user_id in sorted({e.user_id for e in events}):  # one token per user per call
            check(self.user_limit, "per_user", user_id)
        result = await self.events.write(events)
        return gateway_pb2.ReportEventsResponse(accepted=result.accepted,
                                                duplicates=result.duplicates)
