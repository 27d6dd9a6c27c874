"""ONNX Runtime sessions with explicit options, checked against the model's manifest."""
from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from core.errors import FailedPrecondition

_DTYPES = {"int64": "tensor(int64)", "float32": "tensor(float)"}


def make_session(path: Path, threads: int = 1) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        return ort.InferenceSession(str(path), sess_options=opts,
                                    providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own untyped errors for corrupt files
        raise FailedPrecondition(f"{path}: not a loadable ONNX model ({err})") from err


def check_signature(session: ort.InferenceSession, manifest: dict, where: str) -> None:
    """The session's inputs/outputs must be exactly the manifest's names and dtypes."""
    for kind, actual in (("inputs", session.get_inputs()), ("outputs", session.get_outputs())):
        want = [(d["name"], _DTYPES[d["dtype"]]) for d in manifest[kind]]
        got = [(a.name, a.type) for a in actual]
        if want != got:
            raise FailedPrecondition(f"{where}: {kind} are {got}, manifest says {want}")
