// Package clidoc gives skiff's and skiff-runtime's command lines the same
// manners (Consistent) and writes their reference pages in Markdown,
// generated from the command definitions so that they cannot drift:
// docs/skiff.md and docs/skiff-runtime.md.
package clidoc

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v3"
)

// Write writes the reference page of app: every command and flag.
func Write(w io.Writer, app *cli.Command) {
	fmt.Fprintf(w, "# %s command reference\n\n", app.Name)
	fmt.Fprintf(w, "Generated from the command definitions by `%s reference` (`make docs`); do not edit.\n\n", app.Name)
	fmt.Fprintf(w, "%s\n\n", app.Usage)
	writeFlags(w, app.Flags, "Global flags")
	for _, c := range app.Commands {
		writeCommand(w, c, app.Name)
	}
}

// Command is the hidden `reference` command that prints the page.
func Command(app func() *cli.Command, w io.Writer) *cli.Command {
	return &cli.Command{
		Name:   "reference",
		Hidden: true,
		Usage:  "print the command reference in Markdown",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			Write(w, app())
			return nil
		},
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

// Consistent gives every command of the tree the same manners: combined
// short flags (ps -aq, rm -fv, run -it), a bad flag reported in one line
// without the help text (so that $(skiff ps -aq) never expands to help),
// an unknown subcommand refused, and lists made of
// repeated flags only, never of commas (-e A=1,2 is one variable, as in
// Docker).
func Consistent(cmd *cli.Command) {
	cmd.UseShortOptionHandling, cmd.DisableSliceFlagSeparator = true, true
	if cmd.OnUsageError == nil {
		cmd.OnUsageError = UsageError
	}
	if len(cmd.Commands) > 0 && cmd.Action == nil {
		cmd.Action = UnknownCommand
	}
	// A command without subcommands takes its arguments as they are: urfave/cli
	// would otherwise take a container named "h" or "help" for a help command
	// (skiff-runtime delete help). --help still works.
	if len(cmd.Commands) == 0 {
		cmd.HideHelpCommand = true
	}
	for _, sub := range cmd.Commands {
		Consistent(sub)
	}
}

// UnknownCommand refuses an unknown subcommand, or shows the help.
func UnknownCommand(ctx context.Context, cmd *cli.Command) error {
	if cmd.Args().Present() {
		return fmt.Errorf("unknown command %q (see %s --help)", cmd.Args().First(), cmd.FullName())
	}
	if cmd.Root() == cmd {
		return cli.ShowAppHelp(cmd)
	}
	return cli.ShowSubcommandHelp(cmd)
}

// UsageError reports a bad flag in one line, without the help text.
func UsageError(ctx context.Context, cmd *cli.Command, err error, isSubcommand bool) error {
	return fmt.Errorf("%w (see %s --help)", err, cmd.FullName())
}
