package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/urfave/cli/v3"

	"skiff/internal/container"
	"skiff/internal/image"
	"skiff/internal/network"
)

// maxPorts bounds the ports one container publishes: each holds a socket
// on the host, and an image's EXPOSE 1-65535 must not take them all.
const maxPorts = 1024

// networkFlags are run's flags for published ports, addresses and names,
// with Docker's names.
func networkFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "publish", Aliases: []string{"p"}, Usage: "publish a container's port, `[IP:][HOST_PORT:]CTR_PORT[/tcp|/udp]`: a free host port if HOST_PORT is left out, ranges as 8000-8009:80-89 (repeatable)"},
		&cli.BoolFlag{Name: "publish-all", Aliases: []string{"P"}, Usage: "publish every exposed port (the image's and --expose's) to a free host port"},
		&cli.StringSliceFlag{Name: "expose", Usage: "expose `PORT[/tcp|/udp]` or a range, for -P (repeatable)"},
		&cli.StringSliceFlag{Name: "dns", Usage: "nameserver `IP` for /etc/resolv.conf, instead of the host's (repeatable)"},
		&cli.StringSliceFlag{Name: "dns-search", Usage: "search `DOMAIN` in /etc/resolv.conf, instead of the host's (repeatable; \".\" for none)"},
		&cli.StringSliceFlag{Name: "add-host", Usage: "add `NAME:IP` to /etc/hosts, IP host-gateway for the host's address on the container's network (repeatable)"},
		&cli.StringFlag{Name: "ip", Usage: "the container's IPv4 `ADDR` on its user-defined network"},
	}
}

// networkExtrasFromFlags reads the flags of networkFlags into n.
func (e *env) networkExtrasFromFlags(cmd *cli.Command, n *container.NetworkConfig, img image.Config) error {
	var err error
	if n.Ports, err = portsFromFlags(cmd, img); err != nil {
		return err
	}
	for _, ip := range cmd.StringSlice("dns") {
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("invalid --dns %q: want an IP address", ip)
		}
		n.DNS = append(n.DNS, net.ParseIP(ip).String())
	}
	for _, domain := range cmd.StringSlice("dns-search") {
		if err := container.ParseDNSSearch(domain); err != nil {
			return err
		}
		n.DNSSearch = append(n.DNSSearch, domain)
	}
	for _, spec := range cmd.StringSlice("add-host") {
		if spec, err = e.hostGateway(spec, n); err != nil {
			return err
		}
		name, ip, err := container.ParseExtraHost(spec)
		if err != nil {
			return err
		}
		n.ExtraHosts = append(n.ExtraHosts, name+":"+ip.String())
	}
	if n.Mode == container.ContainerNetwork && (len(n.DNS) > 0 || len(n.DNSSearch) > 0 || len(n.ExtraHosts) > 0) {
		return errors.New("--dns, --dns-search and --add-host conflict with --network container:NAME, whose files the container shares")
	}
	if ip := cmd.String("ip"); ip != "" {
		if n.Mode != container.BridgeNetwork || n.Name == network.DefaultName {
			return fmt.Errorf("--ip %s: an address can be chosen on a user-defined network only (network create, then --network NAME)", ip)
		}
		net, err := e.networks.Get(n.Name)
		if err != nil {
			return err
		}
		if _, err := e.networks.CheckAddress(net, ip); err != nil {
			return fmt.Errorf("--ip: %w", err)
		}
		n.IP = ip
	}
	return nil
}

// hostGateway turns Docker's --add-host NAME:host-gateway into
// NAME:GATEWAY, the host's address on the container's bridge network.
func (e *env) hostGateway(spec string, n *container.NetworkConfig) (string, error) {
	name, ok := strings.CutSuffix(spec, ":host-gateway")
	if !ok {
		if name, ok = strings.CutSuffix(spec, "=host-gateway"); !ok {
			return spec, nil
		}
	}
	if n.Mode != container.BridgeNetwork {
		return "", fmt.Errorf("--add-host %s: host-gateway needs a bridge network, not --network %s", spec, n.Mode)
	}
	net, err := e.networks.Get(n.Name)
	if err != nil {
		return "", err
	}
	return name + ":" + net.Gateway, nil
}

// portsFromFlags reads -p, and with -P the image's exposed ports and
// --expose's, each to a free host port unless -p publishes it already.
func portsFromFlags(cmd *cli.Command, img image.Config) ([]container.Port, error) {
	var ports []container.Port
	for _, spec := range cmd.StringSlice("publish") {
		p, err := container.ParsePorts(spec)
		if err != nil {
			return nil, err
		}
		ports = append(ports, p...)
	}
	exposed := cmd.StringSlice("expose")
	if cmd.Bool("publish-all") { // the image's only then: a run without -P does not care what it says
		exposed = append(slices.Clone(img.ExposedPorts), exposed...)
	}
	var toPublish []container.Port
	for _, spec := range exposed {
		p, err := container.ParseExposed(spec)
		if err != nil {
			return nil, err
		}
		toPublish = append(toPublish, p...)
	}
	if cmd.Bool("publish-all") {
		for _, p := range toPublish {
			if !slices.ContainsFunc(ports, func(q container.Port) bool { return q.Container == p.Container && q.Protocol() == p.Protocol() }) {
				ports = append(ports, p)
			}
		}
	}
	if len(ports) > maxPorts {
		return nil, fmt.Errorf("%d ports to publish: at most %d", len(ports), maxPorts)
	}
	return ports, nil
}

// publishedPorts are the container's published ports: as its start
// chose them, or as configured before it started.
func publishedPorts(c *container.Container) []container.Port {
	if len(c.State.Ports) > 0 {
		return c.State.Ports
	}
	return slices.DeleteFunc(slices.Clone(c.Config.Network.Ports), func(p container.Port) bool { return p.Host == 0 })
}

func portCommand() *cli.Command {
	return &cli.Command{
		Name:      "port",
		Usage:     "list a container's published ports, or where one of them is published",
		ArgsUsage: "NAME [PRIVATE_PORT[/tcp|/udp]]",
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			if n := cmd.Args().Len(); n < 1 || n > 2 {
				return errors.New("usage: skiff port NAME [PRIVATE_PORT[/tcp|/udp]]")
			}
			c, err := e.containers.Get(cmd.Args().First())
			if err != nil {
				return err
			}
			want := cmd.Args().Get(1)
			if want != "" && !strings.Contains(want, "/") {
				want += "/tcp"
			}
			found := false
			for _, p := range publishedPorts(c) {
				private := fmt.Sprintf("%d/%s", p.Container, p.Protocol())
				switch {
				case want == "":
					fmt.Printf("%s -> %s\n", private, p.HostAddr())
				case want == private:
					fmt.Println(p.HostAddr())
					found = true
				}
			}
			if want != "" && !found {
				return fmt.Errorf("no public port %s published for %s", want, c.Name())
			}
			return nil
		}),
	}
}
