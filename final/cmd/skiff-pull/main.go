// Command skiff-pull downloads an image into skiff's image store; `skiff
// pull` runs it. It is a binary of its own so that skiff, which starts once
// per container, does not link a registry client (package registry).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/urfave/cli/v3"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"skiff/internal/image"
	"skiff/internal/registry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), unix.SIGINT, unix.SIGTERM)
	defer stop()
	cmd := &cli.Command{
		Name:      "skiff-pull",
		Usage:     "download an image into skiff's image store (skiff pull runs it)",
		ArgsUsage: "REF",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "images", Usage: "`DIR` of the image store", Required: true},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress"},
		},
		Action: pull,
	}
	if err := cmd.Run(ctx, os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "skiff:", strings.ReplaceAll(err.Error(), "\n", "; "))
		os.Exit(125)
	}
}

func pull(ctx context.Context, cmd *cli.Command) error {
	if cmd.Args().Len() != 1 {
		return fmt.Errorf("usage: skiff pull [--quiet] REF")
	}
	store, err := image.Open(cmd.String("images"))
	if err != nil {
		return err
	}
	var progress *registry.Progress
	if !cmd.Bool("quiet") {
		progress = registry.NewProgress(os.Stderr, term.IsTerminal(int(os.Stderr.Fd())))
	}
	img, err := registry.Pull(ctx, store, cmd.Args().First(), progress)
	if err != nil {
		return err
	}
	fmt.Println(img.Name)
	return nil
}
