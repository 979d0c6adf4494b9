package cli

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v3"
)

func systemCommand() *cli.Command {
	return &cli.Command{
		Name:  "system",
		Usage: "maintenance",
		Commands: []*cli.Command{dfCommand(), {
			Name:  "prune",
			Usage: "remove stopped, dead and broken containers, the layers no image uses, and what runtimes killed with SIGKILL left behind",
			Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
				return e.prune()
			}),
		}},
	}
}

// prune removes every container that is neither running nor being
// started or monitored by a live skiff, whatever state its runtime left
// it in, then sweeps the leftovers no container owns any more.
func (e *env) prune() error {
	removed, err := e.runtime.Prune()
	for _, name := range removed {
		fmt.Println("removed", name)
	}
	if err != nil {
		return err
	}
	e.runtime.SweepLeftovers(func(line string) { fmt.Println(line) })
	layers, err := e.removeUnusedLayers()
	for _, id := range layers {
		fmt.Println("deleted layer", id)
	}
	return err
}
