// Command skiff-runtime is skiff's OCI runtime with runc's command line:
// containerd's shim and dockerd call it as they call runc (create, start,
// kill, delete, exec...). It is a binary of its own beside skiff, as runc
// sits beside dockerd, because runc's create, start, kill, ps, exec and
// delete are not Docker's commands of the same names. See
// docs/09-oci.md.
package main

import (
	"os"

	"skiff/internal/runtimecli"
)

func main() {
	os.Exit(runtimecli.Main(os.Args))
}
