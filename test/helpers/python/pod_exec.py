"""Exec in a pod with python3-kubernetes over its WebSocket stream: sends one line on stdin, closes
stdin, and prints one JSON line with what came back and the exit code.

usage: pod_exec.py HOST CA_FILE TOKEN_FILE NAMESPACE POD
"""
import json
import sys

from kubernetes import client
from kubernetes.stream import stream


def main() -> None:
    host, ca_file, token_file, ns, pod = sys.argv[1:6]
    cfg = client.Configuration()
    cfg.host = host
    cfg.ssl_ca_cert = ca_file
    cfg.api_key = {"authorization": "Bearer " + open(token_file).read().strip()}
    api = client.CoreV1Api(client.ApiClient(cfg))
    resp = stream(
        api.connect_get_namespaced_pod_exec,
        pod,
        ns,
        command=["sh", "-c", "read line; echo got:$line; echo oops >&2; exit 4"],
        stdin=True,
        stdout=True,
        stderr=True,
        tty=False,
        _preload_content=False,
    )
    resp.write_stdin("from-python\n")
    stdout, stderr = "", ""
    while resp.is_open():
        resp.update(timeout=1)
        if resp.peek_stdout():
            stdout += resp.read_stdout()
        if resp.peek_stderr():
            stderr += resp.read_stderr()
    resp.close()
    print(json.dumps({"stdout": stdout, "stderr": stderr, "returncode": resp.returncode}))


if __name__ == "__main__":
    main()
