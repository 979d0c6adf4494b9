package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/urfave/cli/v3"
)

// exerciseAction writes lesson NN's starter (make exercise-NN).
func exerciseAction(ctx context.Context, cmd *cli.Command) error {
	if cmd.Args().Len() != 2 {
		return errors.New("usage: vm exercise REPO NN")
	}
	root, number := cmd.Args().Get(0), cmd.Args().Get(1)
	l, err := findLesson(root, number)
	if err != nil {
		return err
	}
	work := filepath.Join(root, "work")
	dir := cmd.String("dir")
	if dir == "" {
		dir = filepath.Join(work, l.name)
	}
	markers, err := writeStarter(l, dir)
	if err != nil {
		return err
	}
	if filepath.Dir(dir) == work {
		if err := writeWorkspace(work, filepath.Join(root, "go.work")); err != nil {
			return err
		}
	}
	rel, _ := filepath.Rel(root, dir)
	fmt.Printf("Wrote %s: %s with the skeleton of what lesson %s adds.\n", rel, l.name, number)
	fmt.Printf("Read %s, then fill each %s comment, in:\n", l.chapter(), l.todo())
	for _, m := range markers {
		fmt.Printf("  %s\n", m.name)
	}
	fmt.Printf("Check it with: make check-%s\n", number)
	return nil
}
