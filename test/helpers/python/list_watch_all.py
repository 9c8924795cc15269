"""A cluster-wide reader with Debian's python3-kubernetes, as a script that follows every namespace's
ConfigMaps does: list_config_map_for_all_namespaces, then watch from the list's resourceVersion; when a
watch ends it watches again from the last RV it was given, and on 410 Gone it lists again. Prints one
JSON line per list, watch and event; stops once the file STOP_FILE exists.

usage: list_watch_all.py KUBECONFIG LABEL_SELECTOR STOP_FILE
"""
import json
import os
import sys

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException


def emit(line: dict) -> None:
    print(json.dumps(line), flush=True)


def main() -> None:
    kubeconfig, selector, stop_file = sys.argv[1], sys.argv[2], sys.argv[3]
    api = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))
    rv = None
    stream = 0
    while not os.path.exists(stop_file):
        if rv is None:
            listed = api.list_config_map_for_all_namespaces(label_selector=selector)
            rv = listed.metadata.resource_version
            items = [[i.metadata.namespace, i.metadata.name, i.metadata.resource_version, (i.data or {}).get("i")] for i in listed.items]
            emit({"event": "list", "rv": rv, "items": items})
        stream += 1
        emit({"event": "watch", "stream": stream, "rv": rv})
        try:
            # A short server-side timeout: the stream ends regularly, so the stop file is seen.
            for event in watch.Watch().stream(api.list_config_map_for_all_namespaces, label_selector=selector, resource_version=rv,
                                              allow_watch_bookmarks=True, timeout_seconds=5):
                obj = event["object"]
                if event["type"] == "ERROR":
                    raise ApiException(status=obj.get("code", 0) if isinstance(obj, dict) else 0, reason="watch ERROR event")
                if event["type"] == "BOOKMARK":
                    # The library hands bookmarks over as the raw JSON object.
                    raw = obj if isinstance(obj, dict) else event["raw_object"]
                    rv = raw["metadata"]["resourceVersion"]
                    emit({"event": "stream", "stream": stream, "type": "BOOKMARK", "rv": rv})
                    continue
                meta = obj.metadata
                rv = meta.resource_version
                emit({"event": "stream", "stream": stream, "type": event["type"], "namespace": meta.namespace, "name": meta.name, "rv": rv,
                      "i": (obj.data or {}).get("i")})
        except ApiException as e:
            emit({"event": "expired" if e.status == 410 else "error", "stream": stream, "status": e.status})
            if e.status == 410:
                rv = None


if __name__ == "__main__":
    main()
