package lifecycle

import (
	"fmt"
	"io"
	"os"

	"skiff/internal/container"
	"skiff/internal/exit"
)

// Monitor is the life of a detached container's monitor, the process
// that owns it (see container.Store) and is its parent: it records
// itself, starts the container with its output going to out, tells ready
// how that went ("ok", or "STATUS message") and closes it, then waits to
// record the exit status and clean up. It returns when the container has
// exited.
func (r *Runtime) Monitor(c *container.Container, ready io.WriteCloser, out *os.File) {
	defer ready.Close()
	c.SetMonitor()
	if err := c.SaveState(); err != nil { // else prune would take it for dead if run -d died
		fmt.Fprintf(ready, "%d %v", exit.Runtime, err)
		return
	}
	p, err := r.Start(c, IO{Stdout: out, Stderr: out})
	if err != nil {
		fmt.Fprintf(ready, "%d %v", exit.Of(err), err)
		if c.Config.AutoRemove {
			r.Store.Remove(c)
		}
		return
	}
	fmt.Fprint(ready, "ok")
	ready.Close()
	if p.Master != nil {
		go io.Copy(out, p.Master)
	}
	r.Wait(c, p)
}
