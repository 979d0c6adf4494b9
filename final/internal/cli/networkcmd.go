package cli

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/urfave/cli/v3"
)

func networkCommand() *cli.Command {
	return &cli.Command{
		Name:  "network",
		Usage: "manage bridge networks",
		Commands: []*cli.Command{
			{
				Name:      "create",
				Usage:     "create a bridge network",
				ArgsUsage: "NAME",
				Flags:     []cli.Flag{&cli.StringFlag{Name: "subnet", Usage: "IPv4 `CIDR` (default: the next free 10.N.0.0/24)"}},
				Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
					if err := needArgs(cmd, 1, "[--subnet CIDR] NAME"); err != nil {
						return err
					}
					n, err := e.networks.Create(cmd.Args().First(), cmd.String("subnet"))
					if err != nil {
						return err
					}
					fmt.Println(n.Name)
					return nil
				}),
			},
			{
				Name:  "ls",
				Usage: "list networks",
				Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
					all, err := e.networks.List()
					if err != nil {
						return err
					}
					w := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
					fmt.Fprintln(w, "NAME\tBRIDGE\tSUBNET\tGATEWAY\tCONTAINERS")
					for _, n := range all {
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\n", n.Name, n.Bridge, n.Subnet, n.Gateway, len(e.networks.Endpoints(n)))
					}
					return w.Flush()
				}),
			},
			{
				Name:      "rm",
				Usage:     "remove networks that no container uses",
				ArgsUsage: "NAME...",
				Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
					if err := needArgs(cmd, 1, "NAME..."); err != nil {
						return err
					}
					for _, name := range cmd.Args().Slice() {
						if err := e.networks.Remove(name); err != nil {
							return err
						}
						fmt.Println(name)
					}
					return nil
				}),
			},
		},
	}
}
