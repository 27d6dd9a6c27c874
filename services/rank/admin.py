"""The model admin API: list versions, promote, roll back, set a canary.

Changes are written to the registry's alias file, which every replica follows (see
ModelSlot.sync), so one call rolls the whole fleet. Where the alias file is read-only (a
Kubernetes ConfigMap mount), roll by updating the ConfigMap instead; the call says so.
"""
from __future__ import annotations

import math

from recsys.v1 import common_pb2, model_admin_pb2, model_admin_pb2_grpc

from core.errors import FailedPrecondition, InvalidArgument, NotFound
from core.rank.model_store import ModelSlot


class ModelAdminServicer(model_admin_pb2_grpc.ModelAdminServiceServicer):
    def __init__(self, slots: dict[str, ModelSlot]):
        self.slots = slots

    def _slot(self, name: str, field: str) -> ModelSlot:
        if name not in self.slots:
            raise NotFound(f"{field}: this service serves {sorted(self.slots)}, not {name!r}")
        return self.slots[name]

    @staticmethod
    def _writable(call):
        async def run(*args):
            try:
                return await call(*args)
            except PermissionError as err:
                raise FailedPrecondition(f"the alias file is read-only ({err.filename}); "
                                         "update it where it is managed (e.g. the ConfigMap)") from err
        return run

    async def ListVersions(self, request, context):
        slot = self._slot(request.name, "name")
        return model_admin_pb2.ListVersionsResponse(versions=[
            model_admin_pb2.ModelVersionInfo(**v) for v in slot.versions()])

    async def Promote(self, request, context):
        slot = self._slot(request.model.name, "model.name")
        if not request.model.version:
            raise InvalidArgument("model.version", "required")
        previous = await self._writable(slot.promote)(request.model.version)
        return model_admin_pb2.PromoteResponse(
            live=common_pb2.ModelRef(name=slot.name, version=slot.live.version), previous_version=previous)

    async def Rollback(self, request, context):
        slot = self._slot(request.name, "name")
        _, previous = await self._writable(slot.rollback)()
        return model_admin_pb2.PromoteResponse(
            live=common_pb2.ModelRef(name=slot.name, version=slot.live.version), previous_version=previous)

    async def SetCanary(self, request, context):
        slot = self._slot(request.model.name, "model.name")
        if not (math.isfinite(request.percent) and 0 <= request.percent <= 100):
            raise InvalidArgument("percent", f"must be 0..100, got {request.percent}")
        await self._writable(slot.set_canary)(request.model.version, request.percent)
        canary = slot.canary
        return model_admin_pb2.SetCanaryResponse(
            canary=common_pb2.ModelRef(name=slot.name, version=canary.model.version if canary else ""),
            percent=canary.percent if canary else 0.0)
