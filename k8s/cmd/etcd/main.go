// etcd, the server release kube-apiserver's own go.mod names (Debian 12's etcd 3.4 is older than
// what Kubernetes 1.34 supports): etcd's own entry point, etcdmain.Main.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
