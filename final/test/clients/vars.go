package clients

import "path/filepath"

// Vars are the environment variables a shell needs to drive the Env's
// containerd with ctr, as with-containerd sets them: ctr reads the first
// two itself, the others go on its command line, as CtrRun puts them:
//
//	CONTAINERD_ADDRESS    containerd's socket (ctr's --address)
//	CONTAINERD_NAMESPACE  the containerd namespace of the run (ctr's --namespace)
//	IMAGE                 the image made of Config.Rootfs
//	RUNTIME               the runtime under test (ctr run's --runc-binary), or with
//	                      Config.LogCalls the script that logs its calls and runs it
//	RUNC_ROOT             the runtime's --root is RUNC_ROOT/CONTAINERD_NAMESPACE (ctr run's --runc-root)
//	FIFO_DIR              where ctr makes the FIFOs of the containers' stdio (--fifo-dir)
//	BUNDLES               the folder of containerd's bundles: BUNDLES/ID is container ID's
//	RUNTIME_CALLS         with Config.LogCalls, the file of the runtime's calls, one line each
func (e *Env) Vars() []string {
	vars := []string{
		"CONTAINERD_ADDRESS=" + e.containerdSock,
		"CONTAINERD_NAMESPACE=" + e.Namespace,
		"IMAGE=" + Image,
		"RUNTIME=" + e.runtime,
		"RUNC_ROOT=" + e.RuncRoot,
		"FIFO_DIR=" + e.FIFODir(),
		"BUNDLES=" + filepath.Join(e.StateDir, "io.containerd.runtime.v2.task", e.Namespace),
	}
	if e.cfg.LogCalls {
		vars = append(vars, "RUNTIME_CALLS="+e.calls)
	}
	return vars
}
