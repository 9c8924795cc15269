"""List and watch ConfigMaps with Debian's python3-kubernetes; prints one JSON line per result.

usage: list_watch.py KUBECONFIG NAMESPACE EXPECTED_WATCH_EVENTS
"""
import json
import sys

from kubernetes import client, config, watch


def main() -> None:
    kubeconfig, namespace, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
    api = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))
    listed = api.list_namespaced_config_map(namespace)
    names = sorted(item.metadata.name for item in listed.items)
    print(json.dumps({"list": names, "resourceVersion": listed.metadata.resource_version}), flush=True)
    seen = 0
    w = watch.Watch()
    for event in w.stream(api.list_namespaced_config_map, namespace,
                          resource_version=listed.metadata.resource_version, timeout_seconds=60):
        print(json.dumps({"type": event["type"], "name": event["object"].metadata.name}), flush=True)
        seen += 1
        if seen >= expected:
            w.stop()


if __name__ == "__main__":
    main()
