package lifecycle

import (
	"runtime"

	"skiff/internal/cgroups"
	"skiff/internal/container"
	"skiff/internal/safefile"
)

// Update changes a container's limits (docker update): in its cgroup if
// it runs, and in its configuration and its bundle's spec for what
// inspect shows.
func (r *Runtime) Update(c *container.Container, limits cgroups.Resources) error {
	if err := limits.Validate(runtime.NumCPU()); err != nil {
		return err
	}
	if c.Status() == container.Running {
		ctr, err := r.ociContainer(c)
		if err != nil {
			return err
		}
		if err := ctr.Update(limits.Spec()); err != nil {
			return err
		}
	}
	c.Config.Limits = limits
	if err := c.SaveConfig(); err != nil {
		return err
	}
	if spec, err := r.LoadSpec(c); err == nil {
		spec.Linux.Resources = limits.Spec()
		return safefile.WriteJSON(c.Path("config.json"), spec, 0o600)
	}
	return nil
}
