#!/usr/bin/env python3
"""Validates rendered Kubernetes manifests against the schemas of one Kubernetes version (strict: unknown
fields fail) and checks what the README promises of them: hardened pods, probes, resources, only /oauth/
and /alexa public, no Secret with values, and in prod at least two replicas and a ServiceMonitor."""

import sys

import jsonschema
import kubernetes_validate
import yaml

# The Prometheus operator's ServiceMonitor is a custom resource, not in the Kubernetes schemas: the part of
# its CRD schema these manifests use, strict.
SERVICE_MONITOR = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}},
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["port"],
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string", "pattern": "^/"},
                            "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                        },
                    },
                },
            },
        },
    },
}

errors = []


def fail(doc, message):
    errors.append(f"{doc['kind']}/{doc['metadata']['name']}: {message}")


def pod_spec(doc):
    spec = doc["spec"]["template"]["spec"]
    return spec


def check_pod(doc):
    spec = pod_spec(doc)
    pod_sc = spec.get("securityContext", {})
    if pod_sc.get("runAsNonRoot") is not True:
        fail(doc, "pods must set runAsNonRoot")
    if pod_sc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        fail(doc, "pods must use the RuntimeDefault seccomp profile")
    if spec.get("automountServiceAccountToken") is not False:
        fail(doc, "pods need no service account token")
    for c in spec["containers"]:
        sc = c.get("securityContext", {})
        if sc.get("readOnlyRootFilesystem") is not True:
            fail(doc, f"container {c['name']}: read-only root filesystem")
        if sc.get("allowPrivilegeEscalation") is not False:
            fail(doc, f"container {c['name']}: no privilege escalation")
        if sc.get("capabilities", {}).get("drop") != ["ALL"]:
            fail(doc, f"container {c['name']}: drop all capabilities")
        res = c.get("resources", {})
        if not res.get("requests", {}).get("cpu") or not res.get("requests", {}).get("memory"):
            fail(doc, f"container {c['name']}: cpu and memory requests")
        if not res.get("limits", {}).get("memory"):
            fail(doc, f"container {c['name']}: a memory limit")
        if c.get("command", [""])[0] not in ("/usr/local/bin/broker", "/usr/local/bin/skill"):
            fail(doc, f"container {c['name']}: runs a binary the image ships")
        if doc["kind"] == "Deployment":
            if "readinessProbe" not in c or "livenessProbe" not in c:
                fail(doc, f"container {c['name']}: readiness and liveness probes")


def main():
    version, overlay, path = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    if not docs:
        sys.exit(f"{path}: no manifests")
    for doc in docs:
        if doc["kind"] == "ServiceMonitor":
            try:
                jsonschema.validate(doc, SERVICE_MONITOR)
            except jsonschema.ValidationError as err:
                fail(doc, f"schema: {err.message}")
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            fail(doc, f"schema ({version}): {err.message} at {'/'.join(map(str, err.path))}")
        except kubernetes_validate.SchemaNotFoundError:
            fail(doc, f"no schema in Kubernetes {version}")
    if overlay == "secret-example":
        for doc in docs:
            for key, value in doc.get("stringData", {}).items():
                if "CHANGE-ME" not in value and value.strip("A=") != "":
                    fail(doc, f"{key} holds something other than a placeholder")
        return report(path)

    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    if "Secret" in by_kind:
        errors.append("an overlay renders a Secret: secrets come from the cluster's secret store")
    for kind in ("Deployment", "Job"):
        for doc in by_kind.get(kind, {}).values():
            check_pod(doc)
    for name in ("broker", "skill"):
        for kind in ("Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "NetworkPolicy"):
            if name not in by_kind.get(kind, {}):
                errors.append(f"{overlay}: no {kind}/{name}")
    if "broker-migrate" not in by_kind.get("Job", {}):
        errors.append(f"{overlay}: no migration Job")
    broker = by_kind["Deployment"]["broker"]
    if pod_spec(broker)["containers"][0]["args"] != ["serve", "--no-migrate"]:
        fail(broker, "serves without migrating (the Job migrates)")
    config = by_kind["ConfigMap"]["broker-config"]["data"]
    if not config.get("BROKER__SERVER__ADMIN_BIND"):
        errors.append("broker-config: the admin API needs its own listener (server.admin_bind)")
    paths = sorted(
        p["path"]
        for ingress in by_kind.get("Ingress", {}).values()
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    )
    if paths != ["/alexa", "/oauth/"]:
        errors.append(f"Ingress: only /oauth/ and /alexa are public, not {paths}")
    for ingress in by_kind.get("Ingress", {}).values():
        if not ingress["spec"].get("tls"):
            fail(ingress, "TLS")
    if overlay == "prod":
        for name in ("broker", "skill"):
            replicas = by_kind["Deployment"][name]["spec"].get("replicas", 1)
            hpa_min = by_kind["HorizontalPodAutoscaler"][name]["spec"].get("minReplicas", 1)
            if replicas < 2 or hpa_min < 2:
                errors.append(f"prod: {name} runs at least two replicas ({replicas}, HPA min {hpa_min})")
        if "broker" not in by_kind.get("ServiceMonitor", {}):
            errors.append("prod: no ServiceMonitor for the broker")
    return report(path)


def report(path):
    if errors:
        for e in errors:
            print(f"{path}: {e}", file=sys.stderr)
        sys.exit(1)
    print(f"{path}: ok")


if __name__ == "__main__":
    main()
