package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"skiff/internal/container"
	"skiff/internal/network"
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
			networkInspectCommand(),
			networkConnectCommand(),
			networkDisconnectCommand(),
		},
	}
}

// networkView is a network as `docker network inspect` shows it.
type networkView struct {
	Name   string
	ID     string `json:"Id"`
	Driver string
	Scope  string
	IPAM   struct {
		Config []struct{ Subnet, Gateway string }
	}
	Containers map[string]networkEndpointView
	Options    map[string]string
}

type networkEndpointView struct{ Name, IPv4Address string }

func networkInspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "print networks, their subnets and containers, as a JSON array (Docker's shape)",
		ArgsUsage: "NAME...",
		Flags: []cli.Flag{&cli.StringFlag{Name: "format", Aliases: []string{"f"},
			Usage: "print each network through a Go `TEMPLATE` ({{.Name}}, {{range .IPAM.Config}}{{.Subnet}}{{end}}...)"}},
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			if err := needArgs(cmd, 1, "NAME..."); err != nil {
				return err
			}
			if err := checkFormat(cmd.String("format")); err != nil {
				return err
			}
			views, values := []networkView{}, []any{}
			var errs []error
			for _, name := range cmd.Args().Slice() {
				n, err := e.networks.Get(name)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				v := e.networkView(n)
				views, values = append(views, v), append(values, v)
			}
			return errors.Join(append(errs, printInspected(cmd.String("format"), views, values))...)
		}),
	}
}

func (e *env) networkView(n *network.Network) networkView {
	v := networkView{Name: n.Name, ID: e.networks.ID(n), Driver: "bridge", Scope: "local",
		Containers: map[string]networkEndpointView{}, Options: map[string]string{"com.docker.network.bridge.name": n.Bridge}}
	v.IPAM.Config = append(v.IPAM.Config, struct{ Subnet, Gateway string }{n.Subnet, n.Gateway})
	_, ipnet, _ := net.ParseCIDR(n.Subnet)
	ones, _ := ipnet.Mask.Size()
	for _, ep := range e.networks.Endpoints(n) {
		v.Containers[ep.ID] = networkEndpointView{ep.Name, fmt.Sprintf("%s/%d", ep.IP, ones)}
	}
	return v
}

// networkTarget reads NETWORK CONTAINER, for connect and disconnect: the
// container must run on a bridge network of its own.
func (e *env) networkTarget(cmd *cli.Command) (*network.Network, *container.Container, error) {
	if cmd.Args().Len() != 2 {
		return nil, nil, fmt.Errorf("usage: skiff network %s NETWORK CONTAINER", cmd.Name)
	}
	n, err := e.networks.Get(cmd.Args().First())
	if err != nil {
		return nil, nil, err
	}
	c, err := e.containers.Get(cmd.Args().Get(1))
	if err != nil {
		return nil, nil, err
	}
	if c.Status() != container.Running {
		return nil, nil, fmt.Errorf("container %s is not running", c.Name())
	}
	if c.Config.Network.Mode != container.BridgeNetwork {
		return nil, nil, fmt.Errorf("container %s has --network %s: only a container on a bridge network joins or leaves networks", c.Name(), c.Config.Network.Mode)
	}
	return n, c, nil
}

func networkConnectCommand() *cli.Command {
	return &cli.Command{
		Name:      "connect",
		Usage:     "connect a running container to one more network (an interface more inside: eth1, eth2...)",
		ArgsUsage: "NETWORK CONTAINER",
		Flags:     []cli.Flag{&cli.StringFlag{Name: "ip", Usage: "the container's IPv4 `ADDR` on the network"}},
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			n, c, err := e.networkTarget(cmd)
			if err != nil {
				return err
			}
			if ip := cmd.String("ip"); ip != "" {
				if _, err := e.networks.CheckAddress(n, ip); err != nil {
					return fmt.Errorf("--ip: %w", err)
				}
			}
			ep := network.Endpoint{ID: c.Config.ID, Name: c.Config.Name, HostsFile: c.Path("hosts"), Hostname: c.Config.Hostname,
				IP: cmd.String("ip"), ExtraHosts: c.Config.Network.ExtraHosts}
			_, err = e.networks.Connect(n, c.State.Pid, ep)
			return err
		}),
	}
}

func networkDisconnectCommand() *cli.Command {
	return &cli.Command{
		Name:      "disconnect",
		Usage:     "disconnect a running container from a network",
		ArgsUsage: "NETWORK CONTAINER",
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			n, c, err := e.networkTarget(cmd)
			if err != nil {
				return err
			}
			return e.networks.Disconnect(n, c.Config.ID, n.Name == c.Config.Network.Name)
		}),
	}
}
