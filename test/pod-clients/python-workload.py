"""A workload on Debian's python3-kubernetes, in-cluster (config.load_incluster_config(): the pod's
KUBERNETES_SERVICE_* and service-account files, which the webhook points at the sidecar). Until
/tmp/stop exists: creates, reads, patches, lists and deletes ConfigMaps labelled client=python; a watch
of them beside it (relisting on 410 Expired, as the design asks of clients after a hand-off); two
candidates of the library's leader election (kubernetes.leaderelection, its ConfigMap lock) on one
lock; and a TCP server on port 8000 that answers each line with "echo:<line reversed>" (for
port-forward). Prints one JSON line per error and a summary at the end (test/pod-clients/README.md).

A 503 that carries Retry-After (a hand-off holding the shard's writes) is retried here, after the
delay it names, and counted as retried; urllib3's own status retries are turned off so each one is
seen. Anything else that fails is an error.
"""
import json
import os
import socketserver
import threading
import time

import urllib3
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock.configmaplock import ConfigMapLock

config.load_incluster_config()
defaults = client.Configuration.get_default_copy()
defaults.retries = urllib3.util.Retry(total=3, status=0, respect_retry_after_header=False)
client.Configuration.set_default(defaults)
NS = open("/var/run/secrets/kubernetes.io/serviceaccount/namespace").read().strip()
SELECTOR = "client=python"
core = client.CoreV1Api()
stats = {"ops": 0, "errors": 0, "retried503": 0, "created": 0, "watchEvents": 0, "watchRuns": 0, "expired": 0}
created, seen = set(), set()
stopping = threading.Event()


def emit(**fields):
    print(json.dumps({"client": "python", **fields}), flush=True)


def error(op, detail):
    stats["errors"] += 1
    emit(event="error", op=op, detail=str(detail)[:400])


def call(op, fn, *args, **kwargs):
    for attempt in range(50):
        try:
            result = fn(*args, **kwargs)
            stats["ops"] += 1
            return result
        except ApiException as e:
            retry_after = (e.headers or {}).get("Retry-After")
            if e.status == 503 and retry_after:
                stats["retried503"] += 1
                time.sleep(min(float(retry_after), 2.0))
                continue
            if e.status == 409 and op == "create" and attempt > 0:
                stats["ops"] += 1  # an earlier attempt did land
                return True
            error(op, f"{e.status} {e.reason}: {(e.body or '')[:300]}")
            return None
        except Exception as e:  # noqa: BLE001 (anything a workload would see)
            error(op, repr(e))
            return None
    error(op, "still 503 after 50 attempts")
    return None


def watcher():
    rv = None
    while not stopping.is_set():
        try:
            if rv is None:
                listed = core.list_namespaced_config_map(NS, label_selector=SELECTOR)
                seen.update(i.metadata.name for i in listed.items)
                rv = listed.metadata.resource_version
            stats["watchRuns"] += 1
            w = watch.Watch()
            for event in w.stream(core.list_namespaced_config_map, NS, label_selector=SELECTOR, resource_version=rv, timeout_seconds=20):
                rv = event["object"].metadata.resource_version
                seen.add(event["object"].metadata.name)
                stats["watchEvents"] += 1
                if stopping.is_set():
                    w.stop()
        except ApiException as e:
            if e.status == 410:
                stats["expired"] += 1  # the RV is from an older epoch: relist (DESIGN.md section 3)
                rv = None
                continue
            error("watch", f"{e.status} {e.reason}")
            time.sleep(0.5)
        except Exception as e:  # noqa: BLE001
            error("watch", repr(e))
            time.sleep(0.5)


leaders = {"started": [], "stopped": []}


def candidate(identity):
    lock = ConfigMapLock("python-leader", NS, identity)
    cfg = electionconfig.Config(
        lock,
        lease_duration=10,
        renew_deadline=8,
        retry_period=2,
        onstarted_leading=lambda: leaders["started"].append(identity),
        onstopped_leading=lambda: leaders["stopped"].append(identity),
    )
    leaderelection.LeaderElection(cfg).run()


class Echo(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(b"echo:" + line.rstrip(b"\n")[::-1] + b"\n")


def main():
    server = socketserver.ThreadingTCPServer(("0.0.0.0", 8000), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Thread(target=watcher, daemon=True).start()
    for identity in ("candidate-a", "candidate-b"):
        threading.Thread(target=candidate, args=(identity,), daemon=True).start()
    emit(event="started", host=os.environ.get("KUBERNETES_SERVICE_HOST"), port=os.environ.get("KUBERNETES_SERVICE_PORT"))
    renewals = set()
    n = 0
    while not os.path.exists("/tmp/stop"):
        n += 1
        name = f"py-{n}"
        body = {"metadata": {"name": name}, "data": {"i": str(n)}}
        if call("create", core.create_namespaced_config_map, NS, body) is not None:
            created.add(name)
        call("patch", core.patch_namespaced_config_map, name, NS, {"metadata": {"labels": {"client": "python", "step": str(n)}}})
        got = call("get", core.read_namespaced_config_map, name, NS)
        if got is not None and got.data != {"i": str(n)}:
            error("get-value", got.data)
        call("list", core.list_namespaced_config_map, NS, label_selector=SELECTOR)
        if n > 5:
            call("delete", core.delete_namespaced_config_map, f"py-{n - 5}", NS)
        # The lock exists once a candidate leads.
        lock = call("get-lock", core.read_namespaced_config_map, "python-leader", NS) if leaders["started"] else None
        record = (lock.metadata.annotations or {}).get("control-plane.alpha.kubernetes.io/leader") if lock else None
        if record:
            renewals.add(json.loads(record).get("renewTime"))
        time.sleep(0.2)
    # The watch must have seen every object created, the last one included (20 s at most).
    deadline = time.time() + 20
    while created - seen and time.time() < deadline:
        time.sleep(0.2)
    stopping.set()
    stats["created"] = len(created)
    emit(
        event="summary",
        **stats,
        watchMissed=len(created - seen),
        leadersStarted=leaders["started"],
        leadersStopped=leaders["stopped"],
        renewalsSeen=len(renewals),
    )


main()
