"""The learning loop's manifests (deploy/k8s/loop), rendered and checked offline.

Built-in kinds are validated strictly against the Kubernetes schemas. The RayJob is a KubeRay
custom resource the schemas do not know: its pod templates are validated as core/v1
PodTemplates (the part the cluster would reject), its own fields checked here; so are the
PrometheusRule's alerts."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S_VERSION = "1.32.0"

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None,
                                reason="kubectl is not installed: manifests not rendered")


@pytest.fixture(scope="module")
def docs() -> list[dict]:
    out = subprocess.run(["kubectl", "kustomize", str(ROOT / "deploy/k8s/loop")], capture_output=True, text=True,
                         timeout=60, check=True)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def pod_templates(rayjob: dict) -> list[dict]:
    spec = rayjob["spec"]["rayClusterSpec"]
    return [spec["headGroupSpec"]["template"]] + [g["template"] for g in spec["workerGroupSpecs"]]


def test_builtin_objects_and_ray_pods_validate(docs):
    import kubernetes_validate

    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "CronJob", "ConfigMap", "RayJob"} <= kinds
    for doc in docs:
        if doc["kind"] == "RayJob":
            for i, template in enumerate(pod_templates(doc)):
                kubernetes_validate.validate({"apiVersion": "v1", "kind": "PodTemplate",
                                              "metadata": {"name": f"ray-{i}"}, "template": template},
                                             K8S_VERSION, strict=True)
        elif doc["kind"] != "PrometheusRule":  # a Prometheus Operator resource: checked below
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_rayjob_runs_the_dataset_module_and_cleans_up(docs):
    [job] = [d for d in docs if d["kind"] == "RayJob"]
    assert job["apiVersion"] == "ray.io/v1"
    spec = job["spec"]
    assert spec["entrypoint"].startswith("python -m training.loop.dataset ")
    assert spec["shutdownAfterJobFinishes"] is True and spec["activeDeadlineSeconds"] > 0
    cluster = spec["rayClusterSpec"]
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"  # the head schedules, workers work
    for group in cluster["workerGroupSpecs"]:
        assert 1 <= group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    for template in pod_templates(job):
        assert template["spec"]["securityContext"]["runAsNonRoot"] is True
        [c] = template["spec"]["containers"]
        assert {"cpu", "memory"} <= set(c["resources"]["limits"])


def test_one_exporter_and_a_nightly_retrain(docs):
    [exporter] = [d for d in docs if d["kind"] == "Deployment"]
    assert exporter["spec"]["replicas"] == 1 and exporter["spec"]["strategy"]["type"] == "Recreate"
    assert exporter["spec"]["template"]["spec"]["containers"][0]["args"][0] == "training.loop.exporter"
    [cron] = [d for d in docs if d["kind"] == "CronJob"]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    [container] = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["args"][0] == "training.loop.retrain"


def test_exporter_alerts_read_the_exporters_own_metrics_and_fire_before_the_cap(docs):
    """The PrometheusRule (a Prometheus Operator resource the schemas do not know): each rule's
    expression names a metric the exporter exports, and the backlog alert fires well before the
    writers' stream cap, past which Redis would drop entries nobody exported."""
    import re

    from core.store import keys as K
    [rule] = [d for d in docs if d["kind"] == "PrometheusRule"]
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    exported = set(re.findall(r'"(recsys_exporter_\w+)"', (ROOT / "training/loop/exporter.py").read_text()))
    rules = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert {"RecsysExporterLagging", "RecsysExporterBacklogNearCap", "RecsysExporterDown"} <= set(rules)
    for name, r in rules.items():
        assert r["labels"]["severity"] in {"warning", "critical"} and r["annotations"]["summary"], name
        for metric in re.findall(r"recsys_\w+", r["expr"]):
            assert metric in exported, f"{name}: {metric} is not an exporter metric"
    threshold = float(re.search(r">\s*(\d+)", rules["RecsysExporterBacklogNearCap"]["expr"]).group(1))
    assert threshold <= 0.5 * min(K.EVENTS_STREAM_CAP, K.IMPRESSIONS_STREAM_CAP)
