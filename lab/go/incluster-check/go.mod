module cluster-bridge.local/lab/incluster-check

go 1.24
