package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v3"
)

func referenceCommand() *cli.Command {
	return &cli.Command{
		Name:   "reference",
		Hidden: true,
		Usage:  "print the command reference in Markdown (docs/skiff.md)",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			WriteReference(os.Stdout)
			return nil
		},
	}
}

// WriteReference writes the reference page of every command and flag,
// generated from the command definitions so that it cannot drift.
func WriteReference(w io.Writer) {
	app := App()
	fmt.Fprintln(w, "# skiff command reference")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Generated from the command definitions by `skiff reference` (`make docs`); do not edit.")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%s\n\n", app.Usage)
	writeFlags(w, app.Flags, "Global flags")
	for _, c := range app.Commands {
		writeCommand(w, c, "skiff")
	}
}

func writeCommand(w io.Writer, c *cli.Command, parent string) {
	if c.Hidden {
		return
	}
	name := parent + " " + c.Name
	if len(c.Commands) > 0 {
		for _, sub := range c.Commands {
			writeCommand(w, sub, name)
		}
		return
	}
	fmt.Fprintf(w, "## %s\n\n%s.\n\n```\n%s [flags] %s\n```\n\n", name, c.Usage, name, c.ArgsUsage)
	writeFlags(w, c.Flags, "Flags")
}

func writeFlags(w io.Writer, flags []cli.Flag, title string) {
	if len(flags) == 0 {
		return
	}
	fmt.Fprintf(w, "%s:\n\n| flag | meaning |\n| --- | --- |\n", title)
	for _, f := range flags {
		var names []string
		for _, n := range f.Names() {
			dash := "--"
			if len(n) == 1 {
				dash = "-"
			}
			names = append(names, "`"+dash+n+"`")
		}
		usage := ""
		if d, ok := f.(cli.DocGenerationFlag); ok {
			usage = d.GetUsage()
			if def := d.GetValue(); def != "" && def != "false" && def != "0" && def != `""` {
				usage += fmt.Sprintf(" (default %s)", def)
			}
		}
		fmt.Fprintf(w, "| %s | %s |\n", strings.Join(names, ", "), usage)
	}
	fmt.Fprintln(w)
}
