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
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: skiff-init DIR (started by skiff run, not by hand)")
		os.Exit(125)
	}
	initproc.Main(os.Args[1])
}
