# A workload that is a shell script around kubectl, in-cluster (no kubeconfig: kubectl reads the pod's
# KUBERNETES_SERVICE_* and service-account files, which the webhook points at the sidecar). Until
# /tmp/stop exists: creates, reads, labels (a patch), lists and deletes ConfigMaps labelled
# client=kubectl, while `kubectl get --watch` runs beside it, restarted whenever it ends.
# Prints one JSON line per failed command and a summary line at the end (test/pod-clients/README.md).
# Every kubectl runs with -v=6, whose request lines show each response's status: a 503 in a command
# that then succeeded is a hand-off's 503 with Retry-After that client-go retried.
set -u
ops=0; errors=0; retried=0; n=0
W=/tmp/watch

json_text() { tr '\n"\\\t' '    ' | cut -c1-400; }

fail() {
  errors=$((errors + 1))
  printf '{"client":"kubectl","event":"error","op":"%s","detail":"%s"}\n' "$1" "$(grep -v '^[IWE][0-9]\{4\} ' /tmp/err | tail -n 3 | json_text)"
}

# k OP ARGS...: one kubectl call, its stdout in /tmp/out.
k() {
  op=$1; shift
  ops=$((ops + 1))
  if kubectl -v=6 "$@" >/tmp/out 2>/tmp/err; then
    retried=$((retried + $(grep -c '503 Service Unavailable' /tmp/err)))
    return 0
  fi
  fail "$op"; return 1
}

watcher() {
  runs=0; failed=0
  while [ ! -e $W.stop ]; do
    runs=$((runs + 1))
    kubectl get configmaps -l client=kubectl --watch -o name >>$W.out 2>$W.err &
    echo $! >$W.pid
    if ! wait $! && [ ! -e $W.stop ]; then
      failed=$((failed + 1))
      printf '{"client":"kubectl","event":"watch-ended","detail":"%s"}\n' "$(tail -n 2 $W.err | json_text)"
      sleep 0.5
    fi
  done
  printf '%s %s\n' "$runs" "$failed" >$W.runs
}

: >$W.out
watcher &
watcher_pid=$!
while [ ! -e /tmp/stop ]; do
  n=$((n + 1))
  if k create create configmap kc-$n --from-literal=i=$n; then
    k label label configmap kc-$n client=kubectl step=$n
    k get get configmap kc-$n -o 'jsonpath={.data.i}' && [ "$(cat /tmp/out)" != "$n" ] && { echo "read $(cat /tmp/out)" >/tmp/err; fail get-value; }
    k list get configmaps -l client=kubectl -o name
    [ $n -gt 5 ] && k delete delete configmap kc-$((n - 5)) --wait=false
  fi
  sleep 0.2
done
# The watch must have seen every object it was shown or told of, the last one included (20 s at most).
for i in $(seq 100); do grep -q "^configmap/kc-$n\$" $W.out && break; sleep 0.2; done
touch $W.stop
kill "$(cat $W.pid)" 2>/dev/null; wait $watcher_pid
seen=$(sort -u $W.out | grep -c '^configmap/kc-')
missed=0
for i in $(seq $n); do grep -q "^configmap/kc-$i\$" $W.out || missed=$((missed + 1)); done
runs=$(cut -d' ' -f1 $W.runs 2>/dev/null || echo 0); ended=$(cut -d' ' -f2 $W.runs 2>/dev/null || echo 0)
printf '{"client":"kubectl","event":"summary","ops":%d,"errors":%d,"retried503":%d,"created":%d,"watchSeen":%d,"watchMissed":%d,"watchRuns":%d,"watchFailed":%d}\n' \
  "$ops" "$errors" "$retried" "$n" "$seen" "$missed" "$runs" "$ended"
