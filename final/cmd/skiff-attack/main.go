// Command skiff-attack is the project's attack suite: run inside a
// container, as lesson 01's escape program is, it tries every way out
// that the chapters discuss, each in a process of its own, and prints
// one line per attempt:
//
//	keyring         BLOCKED EPERM        add_key user skiff-attack @u: operation not permitted
//	mount           ESCAPED mounted      mounted a tmpfs on /mnt
//
// NAME VERDICT CODE DETAIL: BLOCKED with the errno (or why there was no
// effect), ESCAPED with the effect seen, SKIPPED when the attempt does
// not apply. A comment line first says what the process is (uid, euid,
// capabilities, no_new_privs, seccomp). Package attack has the attempts;
// final/test/attack_test.go runs this under skiff's settings and runc's
// default spec.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/urfave/cli/v3"
	"golang.org/x/sys/unix"

	"skiff/internal/attack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), unix.SIGINT, unix.SIGTERM)
	defer stop()
	cmd := &cli.Command{
		Name:      "skiff-attack",
		Usage:     "try, from inside a container, the ways out of it; one line per attempt: BLOCKED (errno) or ESCAPED",
		ArgsUsage: "[ATTACK...]",
		Description: "Run it as a container's command; with no ATTACK, every attempt runs. Some attempts need files beside it: " +
			attack.SetuidCopy + " (a setuid-root copy, for setuid-exec) and a device node in the image (image-devnode).",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print the table as JSON"},
			&cli.BoolFlag{Name: "list", Usage: "list the attempts and what each tries"},
			&cli.StringFlag{Name: strings.TrimPrefix(attack.TryFlag, "--"), Hidden: true},
			&cli.StringFlag{Name: strings.TrimPrefix(attack.ProbeFlag, "--"), Hidden: true},
		},
		Action: run,
	}
	if err := cmd.Run(ctx, os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "skiff-attack:", strings.ReplaceAll(err.Error(), "\n", "; "))
		os.Exit(2)
	}
}

func run(ctx context.Context, cmd *cli.Command) error {
	if name := cmd.String(strings.TrimPrefix(attack.TryFlag, "--")); name != "" {
		return try(name)
	}
	if name := cmd.String(strings.TrimPrefix(attack.ProbeFlag, "--")); name != "" {
		out, err := attack.Probe(name)
		if err == nil {
			fmt.Println(out)
		}
		return err
	}
	if cmd.Bool("list") {
		for _, a := range attack.All {
			fmt.Printf("%-15s %s\n", a.Name, a.About)
		}
		return nil
	}
	attacks := attack.All
	if cmd.Args().Len() > 0 {
		attacks = nil
		for _, name := range cmd.Args().Slice() {
			a, ok := attack.Find(name)
			if !ok {
				return fmt.Errorf("no attack called %q (--list lists them)", name)
			}
			attacks = append(attacks, a)
		}
	}
	table := attack.Run(ctx, "/proc/self/exe", attacks)
	if cmd.Bool("json") {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(table)
	}
	return table.Format(os.Stdout)
}

// try makes one attempt, in this process, and prints its result for the
// parent (attack.Run).
func try(name string) error {
	a, ok := attack.Find(name)
	if !ok {
		return fmt.Errorf("no attack called %q", name)
	}
	return json.NewEncoder(os.Stdout).Encode(a.Try())
}
