package container

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Port is one published port: a host port, on one host address or on
// all, DNATed to the container's port.
type Port struct {
	Host      uint16 `json:"host"` // 0 until a free port is chosen at start (-P, -p CTR)
	Container uint16 `json:"container"`
	Proto     string `json:"proto,omitempty"`  // "udp", or "tcp" ("" in the files of earlier skiffs)
	HostIP    string `json:"hostIP,omitempty"` // an IPv4 address of the host, "" for all of them
}

// Protocol is "tcp" or "udp".
func (p Port) Protocol() string {
	if p.Proto == "" {
		return "tcp"
	}
	return p.Proto
}

// HostAddr is the host's side, as Docker prints it: 0.0.0.0:8080.
func (p Port) HostAddr() string {
	ip := p.HostIP
	if ip == "" {
		ip = "0.0.0.0"
	}
	return net.JoinHostPort(ip, strconv.Itoa(int(p.Host)))
}

// String is Docker's form of a port in `docker ps`: 0.0.0.0:8080->80/tcp.
func (p Port) String() string {
	return fmt.Sprintf("%s->%d/%s", p.HostAddr(), p.Container, p.Protocol())
}

// NetworkExtras are the settings of a container's network beyond its mode.
type NetworkExtras struct {
	IP         string   `json:"ip,omitempty"`         // --ip, on a user-defined network
	DNS        []string `json:"dns,omitempty"`        // --dns: nameservers for /etc/resolv.conf
	DNSSearch  []string `json:"dnsSearch,omitempty"`  // --dns-search: its search domains
	ExtraHosts []string `json:"extraHosts,omitempty"` // --add-host NAME:IP, for /etc/hosts
}

const portUsage = "want [IP:][HOST_PORT:]CTR_PORT[/tcp|/udp], ports from 1 to 65535, a range as 8000-8009"

// ParsePorts reads Docker's -p: CTR, HOST:CTR, IP:HOST:CTR or IP::CTR,
// each with /tcp or /udp, and ranges of the same length on both sides
// (8000-8009:80-89). A host port left out is chosen at start.
func ParsePorts(spec string) ([]Port, error) {
	bad := func() ([]Port, error) { return nil, fmt.Errorf("invalid port %q: %s", spec, portUsage) }
	addr, proto, hasProto := strings.Cut(spec, "/")
	if !hasProto {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" {
		return nil, fmt.Errorf("invalid port %q: protocol %q: want tcp or udp", spec, proto)
	}
	parts := strings.Split(addr, ":")
	var hostIP, host, ctr string
	switch len(parts) {
	case 1:
		ctr = parts[0]
	case 2:
		host, ctr = parts[0], parts[1]
		if host == "" {
			return bad()
		}
	case 3:
		hostIP, host, ctr = parts[0], parts[1], parts[2]
		if ip := net.ParseIP(hostIP); ip == nil || ip.To4() == nil || !strings.Contains(hostIP, ".") {
			return nil, fmt.Errorf("invalid port %q: host address %q: want an IPv4 address", spec, hostIP)
		}
		if hostIP == "0.0.0.0" {
			hostIP = ""
		}
	default:
		return bad()
	}
	cLow, cHigh, ok := portRange(ctr)
	if !ok {
		return bad()
	}
	hLow, hHigh := uint16(0), uint16(0)
	if host != "" {
		if hLow, hHigh, ok = portRange(host); !ok {
			return bad()
		}
		if hHigh-hLow != cHigh-cLow {
			return nil, fmt.Errorf("invalid port %q: the host's range and the container's differ in length", spec)
		}
	}
	if proto == "tcp" {
		proto = "" // as earlier skiffs wrote it
	}
	var ports []Port
	for i := range int(cHigh-cLow) + 1 {
		p := Port{Container: cLow + uint16(i), Proto: proto, HostIP: hostIP}
		if hLow != 0 {
			p.Host = hLow + uint16(i)
		}
		ports = append(ports, p)
	}
	return ports, nil
}

// portRange reads PORT or LOW-HIGH.
func portRange(s string) (low, high uint16, ok bool) {
	a, b, isRange := strings.Cut(s, "-")
	if !isRange {
		b = a
	}
	l, err1 := strconv.ParseUint(a, 10, 16)
	h, err2 := strconv.ParseUint(b, 10, 16)
	if err1 != nil || err2 != nil || l == 0 || h < l {
		return 0, 0, false
	}
	return uint16(l), uint16(h), true
}

// ParseExposed reads a port of --expose or of an image's ExposedPorts:
// PORT[/PROTO] or a range, as container ports to publish with -P.
func ParseExposed(spec string) ([]Port, error) {
	if strings.Contains(spec, ":") {
		return nil, fmt.Errorf("invalid exposed port %q: want PORT[/tcp|/udp] or LOW-HIGH[/tcp|/udp]", spec)
	}
	return ParsePorts(spec)
}

var validHostName = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9_.-]{0,252}[a-zA-Z0-9])?$`)
})

// ParseExtraHost reads --add-host NAME:IP (Docker also takes NAME=IP).
func ParseExtraHost(spec string) (name string, ip net.IP, err error) {
	name, addr, ok := strings.Cut(spec, ":")
	if !ok || strings.Contains(name, "=") {
		name, addr, ok = strings.Cut(spec, "=")
	}
	ip = net.ParseIP(strings.Trim(addr, "[]"))
	if !ok || ip == nil || !validHostName().MatchString(name) {
		return "", nil, fmt.Errorf("invalid --add-host %q: want NAME:IP, e.g. db:10.0.0.5", spec)
	}
	return name, ip, nil
}

// ParseDNSSearch checks a --dns-search domain ("." clears the host's).
func ParseDNSSearch(domain string) error {
	if domain != "." && !validHostName().MatchString(domain) {
		return fmt.Errorf("invalid --dns-search %q: want a domain name", domain)
	}
	return nil
}
