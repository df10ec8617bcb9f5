// etcd at the version k8s.io/kubernetes itself requires (go.etcd.io/etcd/server/v3),
// as etcd's own main does; built here because etcd's module cannot be `go install`ed.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
