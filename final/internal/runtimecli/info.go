package runtimecli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v3"

	"skiff/internal/caps"
	"skiff/internal/oci"
	"skiff/internal/safefile"
	"skiff/internal/seccomp"
)

func specVersion() string { return specs.Version }

func featuresCommand() *cli.Command {
	return &cli.Command{
		Name:  "features",
		Usage: "print what this runtime implements, as JSON",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return printJSON(os.Stdout, oci.Features())
		},
	}
}

func seccompCommand() *cli.Command {
	return &cli.Command{
		Name:      "seccomp",
		Usage:     "print the BPF program a seccomp profile (Docker's format) compiles to, for skiff's default capabilities",
		ArgsUsage: "PROFILE.json",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() != 1 {
				return errors.New("usage: skiff-runtime seccomp PROFILE.json")
			}
			profile, err := seccomp.LoadProfile(cmd.Args().First(), caps.Kept())
			if err != nil {
				return err
			}
			f, err := seccomp.Compile(profile)
			if err != nil {
				return err
			}
			fmt.Println(strings.Join(f.Program(), "\n"))
			return nil
		},
	}
}

func specCommand() *cli.Command {
	return &cli.Command{
		Name:  "spec",
		Usage: "write an example config.json to start a bundle from",
		Flags: []cli.Flag{&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "the bundle `DIR`"}},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			path, err := filepath.Abs(filepath.Join(cmd.String("bundle"), "config.json"))
			if err != nil {
				return err
			}
			if _, err := os.Stat(path); err == nil {
				return fmt.Errorf("%s exists: remove it first", path)
			} else if !errors.Is(err, os.ErrNotExist) {
				return err
			}
			return safefile.WriteJSON(path, oci.Example(), 0o644)
		},
	}
}
