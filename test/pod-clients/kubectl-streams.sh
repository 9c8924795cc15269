# Run inside an injected pod (kubectl in-cluster, so through the sidecar): exec, logs and port-forward
# to the pod named $1 of this namespace, which runs python-workload.py (its echo server on 8000).
# Prints one line per check, `name=value`, that the test compares.
set -u
target=$1
# exec: stdin in, stdout and the exit code out (kubectl speaks WebSocket to the API server).
out=$(echo ping-from-pod | kubectl -v=6 exec -i "$target" -c app -- /bin/sh -c 'read line; echo "got:$line on $(cat /etc/hostname)"; exit 3' 2>/tmp/exec.err)
echo "exec-code=$?"
echo "exec-out=$out"
echo "exec-via=$(grep -o 'https://[0-9.]*:[0-9]*/api/v1/namespaces/[^/]*/pods/[^/]*/exec' /tmp/exec.err | head -n 1 | cut -d/ -f3)"
# logs: the program's first line.
echo "logs=$(kubectl logs "$target" -c app | grep -c '"event": "started"')"
# port-forward: a line there and its reversal back, through the API server and the kubelet.
kubectl port-forward "pod/$target" 18000:8000 >/tmp/pf.out 2>&1 &
pf=$!
for i in $(seq 100); do grep -q 'Forwarding from' /tmp/pf.out && break; sleep 0.1; done
python3 -c '
import socket, sys
payload = ("pod-" + "0123456789abcdef" * 4096).encode()  # 64 KiB each way
s = socket.create_connection(("127.0.0.1", 18000), timeout=20)
s.sendall(payload + b"\n")
reply = b""
while not reply.endswith(b"\n"):
    chunk = s.recv(65536)
    if not chunk:
        break
    reply += chunk
print("pf-bytes=%d" % len(reply))
print("pf-ok=%s" % (reply == b"echo:" + payload[::-1] + b"\n"))
'
kill $pf
