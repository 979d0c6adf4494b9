// Command skiff-init is the first process of a skiff container, until it
// execs the container's command (package initproc). It is skiff's init in
// a binary of its own so that each container start does not pay for the
// start-up of skiff's whole command line and image code.
package main

import (
	"fmt"
	"os"

	"skiff/internal/initproc"
)

func main() {
	if len(os.Args) != 1 {
		fmt.Fprintln(os.Stderr, "skiff-init takes no arguments: skiff and skiff-runtime start it, not people")
		os.Exit(125)
	}
	initproc.Main()
}
