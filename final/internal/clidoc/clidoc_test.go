package clidoc

import (
	"context"
	"io"
	"testing"

	"github.com/urfave/cli/v3"
)

// TestArgumentNamedHelp: "delete help" deletes the container named help
// (runc takes any name), while "delete --help" still shows the help.
func TestArgumentNamedHelp(t *testing.T) {
	for _, id := range []string{"help", "h"} {
		var got string
		app := &cli.Command{Name: "rt", Writer: io.Discard, Commands: []*cli.Command{{
			Name: "delete", ArgsUsage: "ID",
			Action: func(ctx context.Context, cmd *cli.Command) error { got = cmd.Args().First(); return nil },
		}}}
		Consistent(app)
		if err := app.Run(context.Background(), []string{"rt", "delete", id}); err != nil || got != id {
			t.Errorf("rt delete %s: the action got %q (%v), want the container named %s", id, got, err, id)
		}
	}
	ran := false
	app := &cli.Command{Name: "rt", Writer: io.Discard, Commands: []*cli.Command{{
		Name: "delete", Action: func(ctx context.Context, cmd *cli.Command) error { ran = true; return nil },
	}}}
	Consistent(app)
	if err := app.Run(context.Background(), []string{"rt", "delete", "--help"}); err != nil || ran {
		t.Errorf("rt delete --help ran the action (%v)", err)
	}
}
