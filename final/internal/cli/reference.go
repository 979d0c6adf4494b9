package cli

import (
	"io"
	"os"

	"github.com/urfave/cli/v3"

	"skiff/internal/clidoc"
)

func referenceCommand() *cli.Command { return clidoc.Command(App, os.Stdout) }

// WriteReference writes docs/skiff.md.
func WriteReference(w io.Writer) { clidoc.Write(w, App()) }
