"""deploy/: what can be checked without Docker or a Kubernetes API server.

The compose file and manifests parse, reference only things that exist (services,
ConfigMaps, Secrets, settings the app reads), images are pinned and run as
non-root, and the RayService's Serve applications import and build. Building the
images, ``docker compose config`` and schema validation against a cluster cannot
run here (no Docker daemon, compose plugin or API server in CI).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from audiogpt.config import Settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


def documented_env() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    names = {line.split("=", 1)[0].lstrip("# ").strip() for line in text.splitlines() if "=" in line}
    return names | {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"}


def test_compose_services_reference_what_exists() -> None:
    doc = yaml.safe_load((DEPLOY / "compose.scale.yaml").read_text())
    allowed_top = {"name", "services", "volumes", "networks", "configs", "secrets"}
    assert set(k for k in doc if not k.startswith("x-")) <= allowed_top
    services = doc["services"]
    assert {"bot", "postgres", "minio", "ray-head", "worker"} <= set(services)
    for name, svc in services.items():
        assert "image" in svc or "build" in svc, name
        image = svc.get("image", "")
        assert not image.endswith(":latest") and (":" in image or "build" in svc), f"{name}: unpinned image {image}"
        deps = svc.get("depends_on", {})
        for dep in deps if isinstance(deps, list) else deps.keys():
            assert dep in services, f"{name} depends on unknown service {dep}"
        for vol in svc.get("volumes", []):
            src = vol.split(":", 1)[0]
            if not src.startswith((".", "/")):
                assert src in (doc.get("volumes") or {}), f"{name}: undeclared volume {src}"
        if "build" in svc:
            assert (ROOT / svc["build"]["dockerfile"]).is_file()
    known = documented_env()
    for name in ("bot", "worker", "ray-head"):
        for var in services[name].get("environment", {}):
            assert var in known, f"{name} sets {var}, which no setting reads"
    bot = services["bot"]["environment"]
    assert bot["AUDIOGPT_RUNNER"] == "ray" and bot["ARTIFACT_STORE_URL"].startswith("s3://")
    assert bot["DATABASE_URL"].startswith("postgresql")
    # the settings the compose file gives the bot are valid settings
    s = Settings(_env_file=None, **{k.lower().removeprefix("audiogpt_"): v for k, v in bot.items()
                                    if k.startswith("AUDIOGPT_")})  # type: ignore[call-arg]
    assert s.runner == "ray" and s.metrics_port == 9100


def test_dockerfiles_are_pinned_and_non_root() -> None:
    for name in ("bot.Dockerfile", "worker.Dockerfile"):
        text = (DEPLOY / name).read_text()
        froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
        assert froms and all(":" in f and not f.endswith(":latest") for f in froms), froms
        users = re.findall(r"^USER\s+(\S+)", text, re.M)
        assert users and users[-1].split(":")[0] not in ("root", "0"), f"{name} runs as root"
        assert "COPY audiogpt ./audiogpt" in text
        for line in re.findall(r"^RUN .*apt-get install.*$", text, re.M):
            assert "--no-install-recommends" in line
    worker = (DEPLOY / "worker.Dockerfile").read_text()
    assert re.search(r"^FROM nvidia/cuda:\S+", worker, re.M) and "full" in worker
    assert "slim" in (DEPLOY / "bot.Dockerfile").read_text().split("FROM", 1)[1].splitlines()[0]


def _manifests() -> list[dict]:  # type: ignore[type-arg]
    docs = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def test_kubernetes_manifests_are_consistent() -> None:
    docs = _manifests()
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for d in docs:
        assert d["apiVersion"] and d["kind"] and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", d["metadata"]["name"])
    assert {("RayService", "audiogpt-models"), ("Deployment", "audiogpt-bot"), ("Service", "audiogpt-bot"),
            ("ConfigMap", "audiogpt-config"), ("Secret", "audiogpt-secrets")} <= kinds
    # every envFrom reference exists
    text = yaml.safe_dump_all(docs)
    for kind, ref in re.findall(r"(configMapRef|secretRef):\s*\n?\s*name:\s*(\S+)", text):
        want = "ConfigMap" if kind == "configMapRef" else "Secret"
        assert (want, ref) in kinds, f"{kind} {ref} is not defined"
    dep = next(d for d in docs if d["kind"] == "Deployment")
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
    svc = next(d for d in docs if d["kind"] == "Service")
    assert svc["spec"]["selector"].items() <= labels.items()
    container = dep["spec"]["template"]["spec"]["containers"][0]
    port_names = {p["name"] for p in container["ports"]}
    assert {p["targetPort"] for p in svc["spec"]["ports"]} <= port_names
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert dep["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    secret = next(d for d in docs if d["kind"] == "Secret")
    assert all(v == "" for v in secret["stringData"].values()), "never commit secret values"
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    known = documented_env()
    assert set(config["data"]) <= known, set(config["data"]) - known


def test_rayservice_applications_build() -> None:
    """The RayService's import_path builds each family's Serve application (no cluster needed)."""
    import importlib

    svc = next(d for d in _manifests() if d["kind"] == "RayService")
    apps = yaml.safe_load(svc["spec"]["serveConfigV2"])["applications"]
    from audiogpt.core.tools import TOOLS

    assert {a["args"]["family"] for a in apps} == {t.family for t in TOOLS}  # one app per catalogue family
    assert all(a["name"] == f"audiogpt-{a['args']['family']}" for a in apps)  # what RayRunner looks up
    mod, fn = apps[0]["import_path"].split(":")
    builder = getattr(importlib.import_module(mod), fn)
    for a in apps:
        app = builder(a["args"])
        assert type(app).__name__ == "Application"
    gpu = svc["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]
    assert gpu["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
