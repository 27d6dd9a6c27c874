"""The deployment manifests, rendered and checked offline (`make deploy-check`).

Every overlay is rendered with `kubectl kustomize` and every object validated against the
Kubernetes schemas (kubernetes-validate, strict); then the rendered YAML is walked for what
the design promises: probes, resources, drain-matched grace periods, non-root read-only
containers, headless Services, PDBs and HPAs in prod, network isolation, the model aliases
ConfigMap mounted as a watched folder. Skipped, with the reason, where kubectl is absent.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ("dev", "prod")
STAGES = ("recall", "rank", "rerank", "gateway")
K8S_VERSION = "1.32.0"

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None,
                                reason="kubectl is not installed: manifests not rendered")


def render(overlay: str) -> list[dict]:
    out = subprocess.run(["kubectl", "kustomize", str(ROOT / "deploy/k8s/overlays" / overlay)],
                         capture_output=True, text=True, timeout=60, check=True)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def by_kind(docs, kind):
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request):
    return request.param, render(request.param)


def test_every_object_validates_against_the_schemas(rendered):
    import kubernetes_validate

    _, docs = rendered
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_every_stage_has_probes_resources_and_a_safe_container(rendered):
    _, docs = rendered
    deployments = by_kind(docs, "Deployment")
    assert set(deployments) == set(STAGES)
    for name, d in deployments.items():
        spec = d["spec"]["template"]["spec"]
        [c] = spec["containers"]
        port = c["ports"][0]["containerPort"]
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            assert c[probe]["grpc"]["port"] == port, (name, probe)
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(c["resources"][bound]), (name, bound)
        grace = next(int(e["value"]) for e in c["env"] if e["name"].endswith("_GRACE_S"))
        assert spec["terminationGracePeriodSeconds"] > grace, name
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
        assert mounts["/models"]["readOnly"] and "subPath" not in mounts["/aliases"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["aliases"]["configMap"]["name"] == "model-aliases"


def test_headless_services_select_each_stage(rendered):
    _, docs = rendered
    services = by_kind(docs, "Service")
    for name in STAGES:
        s = services[name]
        assert s["spec"]["clusterIP"] == "None"
        assert s["spec"]["selector"] == {"app.kubernetes.io/name": name}


def test_aliases_configmap_rolls_in_place(rendered):
    _, docs = rendered
    aliases = by_kind(docs, "ConfigMap")["model-aliases"]
    assert set(aliases["data"]) == {"two_tower.json", "item_cf.json", "ranker.json", "prerank.json"}
    envs = [d for d in by_kind(docs, "ConfigMap").values() if d["metadata"]["name"].startswith("recsys-env")]
    assert envs and envs[0]["data"]["ALIASES_DIR"] == "/aliases"


def test_only_the_gateway_is_reachable_from_outside(rendered):
    _, docs = rendered
    policies = by_kind(docs, "NetworkPolicy")
    deny = policies["recsys-default-deny"]
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]
    assert deny["spec"]["policyTypes"] == ["Ingress", "Egress"]  # egress is closed by default too
    egress = policies["recsys-egress-dns-and-redis"]["spec"]["egress"]
    assert {p["port"] for rule in egress for p in rule["ports"]} == {53, 6379}
    stages = policies["stages-from-gateway"]["spec"]
    assert stages["ingress"][0]["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "gateway"}}}]
    exposed = [s for s in by_kind(docs, "Service").values() if s["spec"].get("type") in ("LoadBalancer", "NodePort")]
    assert all(s["spec"]["selector"] == {"app.kubernetes.io/name": "gateway"} for s in exposed)


def test_overlay_specifics(rendered):
    overlay, docs = rendered
    deployments = by_kind(docs, "Deployment")
    if overlay == "dev":
        assert all(d["spec"]["replicas"] == 1 for d in deployments.values())
        assert "redis" in by_kind(docs, "StatefulSet")
        return
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in by_kind(docs, "HorizontalPodAutoscaler").values()}
    pdbs = by_kind(docs, "PodDisruptionBudget").values()
    for name, d in deployments.items():
        assert 2 <= hpas[name]["spec"]["minReplicas"] < hpas[name]["spec"]["maxReplicas"]
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert any(all(labels.get(k) == v for k, v in p["spec"]["selector"]["matchLabels"].items()) for p in pdbs)
        assert d["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert "redis" not in by_kind(docs, "StatefulSet")
    # TLS at the Ingress; no plaintext LoadBalancer; reflection off on the public port.
    assert by_kind(docs, "Service")["gateway-public"]["spec"]["type"] == "ClusterIP"
    ingress = by_kind(docs, "Ingress")["gateway"]["spec"]
    assert ingress["tls"][0]["secretName"] and ingress["rules"][0]["host"] in ingress["tls"][0]["hosts"]
    env = next(d for n, d in by_kind(docs, "ConfigMap").items() if n.startswith("recsys-env"))["data"]
    assert env["GATEWAY_REFLECTION"] == "false"


def test_hpa_managed_deployments_leave_replicas_to_the_hpa(rendered):
    overlay, docs = rendered
    if overlay == "prod":
        assert all("replicas" not in d["spec"] for d in by_kind(docs, "Deployment").values())


def test_one_service_account_each_without_api_tokens_and_a_namespace(rendered):
    overlay, docs = rendered
    accounts = by_kind(docs, "ServiceAccount")
    pods = [d["spec"]["template"]["spec"] for d in by_kind(docs, "Deployment").values()]
    pods += [d["spec"]["template"]["spec"] for d in by_kind(docs, "Job").values()]
    pods += [d["spec"]["jobTemplate"]["spec"]["template"]["spec"] for d in by_kind(docs, "CronJob").values()]
    for spec in pods:
        assert spec["automountServiceAccountToken"] is False
        assert spec["serviceAccountName"] in accounts
    assert {n for n, d in by_kind(docs, "Deployment").items()} == \
        {d["spec"]["template"]["spec"]["serviceAccountName"] for d in by_kind(docs, "Deployment").values()}
    assert all(a["automountServiceAccountToken"] is False for a in accounts.values())
    [namespace] = by_kind(docs, "Namespace")
    assert all(d["metadata"].get("namespace") == namespace for d in docs if d["kind"] != "Namespace")


def test_secrets_stay_out_of_config_maps(rendered):
    _, docs = rendered
    for name, cm in by_kind(docs, "ConfigMap").items():
        assert not any(k in (cm.get("data") or {}) for k in ("REDIS_URL", "GATEWAY_API_KEYS", "GATEWAY_ADMIN_KEYS",
                                                               "RANK_ADMIN_TOKEN")), name
    for d in by_kind(docs, "Deployment").values():
        [c] = d["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in c["env"]}
        assert env["REDIS_URL"]["valueFrom"]["secretKeyRef"]["key"] == "url"


def test_redis_runs_the_one_durable_configuration():
    from core.store.durability import server_args
    compose = yaml.safe_load((ROOT / "deploy/compose.yaml").read_text())["services"]["redis"]["command"]
    k8s = next(d for d in yaml.safe_load_all((ROOT / "deploy/k8s/overlays/dev/redis.yaml").read_text())
               if d["kind"] == "StatefulSet")["spec"]["template"]["spec"]["containers"][0]["args"]
    for args in (compose, k8s):
        pairs = dict(zip(args[::2], args[1::2])) if args[0] != "redis-server" else dict(zip(args[1::2], args[2::2]))
        assert {k: pairs.get(k) for k in server_args()[::2]} == dict(zip(server_args()[::2], server_args()[1::2]))


def test_compose_file_names_the_whole_stack():
    doc = yaml.safe_load((ROOT / "deploy/compose.yaml").read_text())
    assert {"redis", "bootstrap", "recall", "rank", "rerank", "gateway"} <= set(doc["services"])
    assert doc["services"]["gateway"]["ports"] == ["50050:50050", "8080:8080"]
    assert doc["services"]["rank"]["depends_on"]["bootstrap"]["condition"] == "service_completed_successfully"
