"""The gateway's HTTP/JSON API and web console (Starlette), beside gRPC in the same process.

Every API route calls the same servicer method as its gRPC twin, so validation, the pipeline
and its deadlines are one code path; bodies and answers are the proto JSON mapping with the
proto's own field names. Around each call, as the gRPC interceptors do: the key check
(auth.py), load shedding against the process's one limit (services/common/shedding.py), and
domain errors mapped to status codes (errors.py). The caller's deadline is the optional
`x-deadline-ms` header (milliseconds left), the gRPC deadline's counterpart.

    POST /v1/recommend   RecommendRequest    -> RecommendResponse
    POST /v1/events      ReportEventsRequest -> ReportEventsResponse
    POST /v1/explain     ExplainRequest      -> ExplainResponse
    GET  /v1/status      models' live/canary versions, experiment layers, report plots
    GET|POST /v1/admin/campaigns, PUT|DELETE /v1/admin/campaigns/{id}   (admin key)
    GET  /v1/covers/{id}.svg   generated covers (public, like a CDN's images)
    GET  /openapi.json, /  (the console), /static/*, /reports/{folder}/{name}.png
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from google.protobuf import json_format
from recsys.v1 import campaign_pb2, gateway_pb2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from core import metrics
from core.errors import InvalidArgument, NotFound, Overloaded, RecsysError
from core.items import ItemTable
from core.registry.reader import Registry
from core.versioned import Versioned
from gateway.campaigns import CampaignServicer
from gateway.experiments import Experiments
from gateway.http.auth import HttpAuth
from gateway.http.covers import cover_svg
from gateway.http.errors import error_body
from gateway.http.openapi import openapi_document
from gateway.servicer import GatewayServicer
from services.common.errors import status_of
from services.common.shedding import LoadShedder

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
SERVICE = "gateway_http"
MODEL_NAMES = ("two_tower", "item_cf", "prerank", "ranker")
MAX_DEADLINE_MS = 60_000
SCREENSHOT = "console.png"  # the browser test's picture of this console: not a report


class HttpContext:
    """What the servicers use of a gRPC context: the time left before the caller's deadline,
    and the call's metadata (the request's headers, lower-case names: user tokens)."""

    def __init__(self, deadline_s: float | None, headers=()):
        self._deadline = None if deadline_s is None else time.monotonic() + deadline_s
        self._metadata = tuple(headers)

    def invocation_metadata(self) -> tuple:
        return self._metadata

    def time_remaining(self) -> float | None:
        return None if self._deadline is None else max(0.0, self._deadline - time.monotonic())


def deadline_of(headers) -> float | None:
    """The caller's deadline in seconds from `x-deadline-ms` (None when absent)."""
    text = headers.get("x-deadline-ms")
    if text is None:
        return None
    try:
        ms = float(text)
    except ValueError:
        ms = -1.0
    if not 0 < ms <= MAX_DEADLINE_MS:
        raise InvalidArgument("x-deadline-ms", f"must be a number of milliseconds in (0, {MAX_DEADLINE_MS}]")
    return ms / 1000.0


def to_json(message) -> dict:
    """The proto JSON mapping with the proto's field names and every field (defaults too).
    int64 values are JSON strings, as the mapping says: a JSON number is a double in most
    clients (JavaScript's included), exact only up to 2**53, and ids are opaque 64-bit values.
    Requests may send them either way (json_format.Parse takes both)."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)


@dataclass
class HttpApi:
    gateway: GatewayServicer
    campaigns: CampaignServicer
    auth: HttpAuth
    shedder: LoadShedder
    items: Versioned[ItemTable] | None = None
    registry: Registry | None = None
    experiments: Experiments | None = None
    reports_dirs: list[Path] = field(default_factory=list)
    max_body_bytes: int = 4 * 1024 * 1024

    async def _call(self, request: Request, method: str, request_type, handler, admin: bool = False,
                    body: bytes | None = None, fill=None) -> Response:
        """One API call the way the gRPC edge makes it: auth, shedding, parse, handler, map errors."""
        start = time.perf_counter()
        code = grpc.StatusCode.OK
        admitted = False
        try:
            self.auth.check(request.headers, admin, method)
            deadline = deadline_of(request.headers)
            refusal = self.shedder.refusal(method, deadline)
            if refusal:
                code = None  # counted by the shedder
                raise Overloaded(refusal)
            self.shedder.in_flight += 1
            admitted = True
            raw = await request.body() if body is None else body
            if len(raw) > self.max_body_bytes:
                raise InvalidArgument("body", f"larger than {self.max_body_bytes} bytes")
            message = request_type()
            try:
                json_format.Parse(raw or b"{}", message)
            except json_format.ParseError as err:
                raise InvalidArgument("body", f"not a valid {request_type.DESCRIPTOR.name} in JSON: "
                                              f"{str(err)[:200]}") from None
            if fill is not None:
                fill(message)
            reply = await handler(message, HttpContext(deadline, request.headers.items()))
            return JSONResponse(to_json(reply))
        except RecsysError as err:
            code = status_of(err) if code is not None else None
            status, doc = error_body(status_of(err), str(err))
            return JSONResponse(doc, status_code=status)
        except Exception:
            code = grpc.StatusCode.INTERNAL
            log.exception("unhandled error", extra={"method": method})
            status, doc = error_body(code, "internal error")
            return JSONResponse(doc, status_code=status)
        finally:
            elapsed = time.perf_counter() - start
            if admitted:
                self.shedder.in_flight -= 1
                if code == grpc.StatusCode.OK:
                    self.shedder.served(method, elapsed)
            if code is not None:
                metrics.RPC_TOTAL.labels(SERVICE, method, code.name).inc()
            metrics.RPC_LATENCY_MS.labels(SERVICE, method).observe(elapsed * 1000)

    # ---- the public API ------------------------------------------------------------------
    async def recommend(self, request: Request) -> Response:
        return await self._call(request, "Recommend", gateway_pb2.RecommendRequest, self.gateway.Recommend)

    async def events(self, request: Request) -> Response:
        return await self._call(request, "ReportEvents", gateway_pb2.ReportEventsRequest,
                                self.gateway.ReportEvents)

    async def explain(self, request: Request) -> Response:
        return await self._call(request, "Explain", gateway_pb2.ExplainRequest, self.gateway.Explain)

    # ---- the admin API -------------------------------------------------------------------
    async def create_campaign(self, request: Request) -> Response:
        return await self._call(request, "CreateCampaign", campaign_pb2.Campaign,
                                self.campaigns.CreateCampaign, admin=True)

    async def update_campaign(self, request: Request) -> Response:
        cid = request.path_params["campaign_id"]
        return await self._call(request, "UpdateCampaign", campaign_pb2.Campaign, self.campaigns.UpdateCampaign,
                                admin=True, fill=lambda m: setattr(m, "campaign_id", cid))

    async def end_campaign(self, request: Request) -> Response:
        cid = request.path_params["campaign_id"]
        return await self._call(request, "EndCampaign", campaign_pb2.EndCampaignRequest,
                                self.campaigns.EndCampaign, admin=True, body=b"{}",
                                fill=lambda m: setattr(m, "campaign_id", cid))

    async def list_campaigns(self, request: Request) -> Response:
        return await self._call(request, "ListCampaigns", campaign_pb2.ListCampaignsRequest,
                                self.campaigns.ListCampaigns, admin=True, body=b"{}")

    # ---- what the console shows besides feeds ---------------------------------------------
    async def status(self, request: Request) -> Response:
        """Live and canary versions of each model, the experiment layers, the report plots."""
        try:
            self.auth.check(request.headers, admin=False)
        except RecsysError as err:
            status, doc = error_body(status_of(err), str(err))
            return JSONResponse(doc, status_code=status)
        models = []
        for name in MODEL_NAMES:
            aliases = self.registry.aliases(name) if self.registry is not None else {}
            models.append({"name": name, "live": aliases.get("live", ""), "canary": aliases.get("canary", ""),
                           "canary_percent": float(aliases.get("canary_percent", 0) or 0)})
        layers = []
        if self.experiments is not None:
            self.experiments.maybe_reload()
            layers = [{"name": name, "experiments": [
                {"id": e.id, "percent": e.percent, "rank_model_version": e.rank_model_version,
                 "rerank_policy": e.rerank_policy, "recall_quotas": e.recall_quotas} for e in exps]}
                for name, exps in self.experiments.layers]
        reports = [{"url": f"/reports/{i}/{p.name}", "name": f"{folder.as_posix()}/{p.name}"}
                   for i, folder in enumerate(self.reports_dirs) if folder.is_dir()
                   for p in sorted(folder.glob("*.png")) if p.name != SCREENSHOT]
        return JSONResponse({"models": models, "experiment_layers": layers, "reports": reports})

    async def report(self, request: Request) -> Response:
        """A plot from the report folders, read-only: PNG files directly in those folders."""
        try:
            self.auth.check(request.headers, admin=False)
            index, name = int(request.path_params["folder"]), request.path_params["name"]
            if not 0 <= index < len(self.reports_dirs) or "/" in name or not name.endswith(".png"):
                raise NotFound("no such report")
            path = self.reports_dirs[index] / name
            if not path.is_file() or path.resolve().parent != self.reports_dirs[index].resolve():
                raise NotFound("no such report")
        except (RecsysError, ValueError) as err:
            code = status_of(err) if isinstance(err, RecsysError) else grpc.StatusCode.NOT_FOUND
            status, doc = error_body(code, str(err))
            return JSONResponse(doc, status_code=status)
        return FileResponse(path, media_type="image/png")

    async def cover(self, request: Request) -> Response:
        try:
            item_id = int(request.path_params["item_id"])
        except ValueError:
            status, doc = error_body(grpc.StatusCode.INVALID_ARGUMENT, "item_id: must be an integer >= 1")
            return JSONResponse(doc, status_code=status)
        category = 0
        items = self.items.value if self.items is not None else None
        if items is not None:
            idx = items.index_of([item_id])[0]
            category = int(items.category[idx]) if idx >= 0 else 0
        return Response(cover_svg(item_id, category), media_type="image/svg+xml",
                        headers={"cache-control": "public, max-age=86400"})

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(self._openapi)

    async def console(self, request: Request) -> Response:
        return FileResponse(STATIC / "console.html", media_type="text/html")

    @property
    def _openapi(self) -> dict:
        g, c = gateway_pb2, campaign_pb2
        return openapi_document([
            ("POST", "/v1/recommend", "A feed for one user", g.RecommendRequest.DESCRIPTOR,
             g.RecommendResponse.DESCRIPTOR, False),
            ("POST", "/v1/events", "Report feedback (idempotent by event_id)", g.ReportEventsRequest.DESCRIPTOR,
             g.ReportEventsResponse.DESCRIPTOR, False),
            ("POST", "/v1/explain", "Why an item is or is not in the user's feed", g.ExplainRequest.DESCRIPTOR,
             g.ExplainResponse.DESCRIPTOR, False),
            ("GET", "/v1/admin/campaigns", "Every campaign", None, c.ListCampaignsResponse.DESCRIPTOR, True),
            ("POST", "/v1/admin/campaigns", "Create a campaign", c.Campaign.DESCRIPTOR, c.Campaign.DESCRIPTOR, True),
            ("PUT", "/v1/admin/campaigns/{campaign_id}", "Replace a campaign's settings", c.Campaign.DESCRIPTOR,
             c.Campaign.DESCRIPTOR, True),
            ("DELETE", "/v1/admin/campaigns/{campaign_id}", "End a campaign now", None, c.Campaign.DESCRIPTOR, True),
        ])

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/v1/recommend", self.recommend, methods=["POST"]),
            Route("/v1/events", self.events, methods=["POST"]),
            Route("/v1/explain", self.explain, methods=["POST"]),
            Route("/v1/status", self.status, methods=["GET"]),
            Route("/v1/admin/campaigns", self.list_campaigns, methods=["GET"]),
            Route("/v1/admin/campaigns", self.create_campaign, methods=["POST"]),
            Route("/v1/admin/campaigns/{campaign_id}", self.update_campaign, methods=["PUT"]),
            Route("/v1/admin/campaigns/{campaign_id}", self.end_campaign, methods=["DELETE"]),
            Route("/v1/covers/{item_id}.svg", self.cover, methods=["GET"]),
            Route("/reports/{folder}/{name}", self.report, methods=["GET"]),
            Route("/openapi.json", self.openapi, methods=["GET"]),
            Route("/", self.console, methods=["GET"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ])
