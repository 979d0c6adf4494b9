// Command skiff is a small container runtime: the capstone of the lessons.
// See docs/08-final.md and docs/skiff.md.
package main

import (
	"os"

	"skiff/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args))
}
