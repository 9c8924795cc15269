"""Sends python3-kubernetes's usual requests (reads, lists, a watch, writes, a status patch, log and
exec on a pod that does not exist, a delete-collection) so that the API server's audit log records
how it read them. Errors are expected for some and ignored: only the requests matter.

usage: request_shapes.py KUBECONFIG NAMESPACE
"""
import sys

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream


def attempt(call, *args, **kwargs):
    try:
        return call(*args, **kwargs)
    except (ApiException, Exception):  # noqa: BLE001 - the request is what counts, not its answer
        return None


def main() -> None:
    kubeconfig, ns = sys.argv[1:3]
    config.load_kube_config(config_file=kubeconfig)
    core = client.CoreV1Api()
    apps = client.AppsV1Api()
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py-shapes"), data={"a": "1"})
    attempt(core.create_namespaced_config_map, ns, body)
    attempt(core.read_namespaced_config_map, "py-shapes", ns)
    attempt(core.patch_namespaced_config_map, "py-shapes", ns, {"data": {"b": "2"}})
    attempt(core.list_namespaced_config_map, ns, field_selector="metadata.name=py-shapes")
    for _ in watch.Watch().stream(core.list_namespaced_config_map, ns, timeout_seconds=1):
        pass
    attempt(core.read_namespace, ns)
    attempt(core.list_node)
    attempt(apps.read_namespaced_deployment_scale, "missing", ns)
    attempt(apps.patch_namespaced_deployment_status, "missing", ns, {"status": {}})
    attempt(core.read_namespaced_pod_log, "missing", ns)
    attempt(stream, core.connect_get_namespaced_pod_exec, "missing", ns, command=["true"], stdout=True, stderr=False, stdin=False, tty=False)
    attempt(client.VersionApi().get_code)
    attempt(core.delete_collection_namespaced_config_map, ns)


if __name__ == "__main__":
    main()
