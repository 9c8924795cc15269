// Command etcd is etcd's own server entry point, built from the go.etcd.io/etcd/server/v3 module at
// the version the chosen Kubernetes release pins (lab/build.ts writes the go.mod).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
