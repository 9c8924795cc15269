"""CRUD, patches, server-side apply, deletecollection and a watch on ConfigMaps with python3-kubernetes,
configured as an in-cluster client (host, CA bundle, bearer token). Prints one JSON line per result,
normalized so runs against two endpoints compare equal.

usage: sidecar_crud.py HOST CA_FILE TOKEN_FILE NAMESPACE
"""
import json
import sys
import threading

from kubernetes import client, watch
from kubernetes.client.rest import ApiException


def norm(obj):
    d = client.ApiClient().sanitize_for_serialization(obj)
    meta = d.get("metadata", {})
    for key in ("uid", "resourceVersion", "creationTimestamp", "namespace", "managedFields"):
        meta.pop(key, None)
    return d


def main() -> None:
    host, ca_file, token_file, ns = sys.argv[1:5]
    cfg = client.Configuration()
    cfg.host = host
    cfg.ssl_ca_cert = ca_file
    cfg.api_key = {"authorization": "Bearer " + open(token_file).read().strip()}
    api_client = client.ApiClient(cfg)
    api = client.CoreV1Api(api_client)

    def patch(name, body, content_type, **kwargs):
        # This client version has no per-call content type; its default headers override the chosen one.
        api_client.set_default_header("Content-Type", content_type)
        try:
            return api.patch_namespaced_config_map(name, ns, body, **kwargs)
        finally:
            api_client.default_headers.pop("Content-Type", None)

    out = lambda label, value: print(json.dumps({label: value}, sort_keys=True), flush=True)

    start = api.list_namespaced_config_map(ns)
    events = []
    w = watch.Watch()

    def watcher():
        for event in w.stream(api.list_namespaced_config_map, ns, resource_version=start.metadata.resource_version, timeout_seconds=60):
            events.append((event["type"], event["object"].metadata.name))
            if len(events) >= 10:
                w.stop()

    t = threading.Thread(target=watcher)
    t.start()

    body = {"metadata": {"name": "py-a", "labels": {"set": "py"}}, "data": {"k": "v"}}
    out("create", norm(api.create_namespaced_config_map(ns, body)))
    out("get", norm(api.read_namespaced_config_map("py-a", ns)))
    current = api.read_namespaced_config_map("py-a", ns)
    current.data = {"k": "v2"}
    out("update", norm(api.replace_namespaced_config_map("py-a", ns, current)))
    out("json-patch", norm(patch("py-a", [{"op": "add", "path": "/data/j", "value": "1"}], "application/json-patch+json")))
    out("merge-patch", norm(patch("py-a", {"data": {"m": "1"}}, "application/merge-patch+json")))
    out("strategic-patch", norm(patch("py-a", {"metadata": {"labels": {"s": "1"}}}, "application/strategic-merge-patch+json")))
    applied = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "py-b", "labels": {"set": "py"}}, "data": {"a": "1"}}
    out("apply", norm(patch("py-b", json.dumps(applied), "application/apply-patch+yaml", field_manager="e2e")))
    out("list", sorted(i.metadata.name for i in api.list_namespaced_config_map(ns, label_selector="set=py").items))
    out("delete", api.delete_namespaced_config_map("py-a", ns).status)
    try:
        api.read_namespaced_config_map("py-a", ns)
        out("get-deleted", "found")
    except ApiException as e:
        out("get-deleted", e.status)
    api.create_namespaced_config_map(ns, {"metadata": {"name": "py-c", "labels": {"set": "py"}}})
    out("deletecollection", api.delete_collection_namespaced_config_map(ns, label_selector="set=py").status)
    out("after-deletecollection", [i.metadata.name for i in api.list_namespaced_config_map(ns, label_selector="set=py").items])
    t.join(60)
    out("watch", events)


if __name__ == "__main__":
    main()
