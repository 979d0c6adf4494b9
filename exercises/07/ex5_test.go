//go:build vmtest

// Exercise 07.5, keep the client's address: the hairpin masquerade is
// narrowed to clients on the host and on the bridge, so that a container
// behind a published port sees the real address of a client from elsewhere.
package main

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// An "outside" client: a network namespace of the test's own, wired to the
// host by a veth pair, as another machine would be by a cable.
var (
	outsideHostIP   = net.IPv4(10, 98, 0, 1).To4()
	outsideClientIP = net.IPv4(10, 98, 0, 2).To4()
)

func TestEx07_5KeepTheClientsAddress(t *testing.T) {
	rootfs, _ := newRootfs(t)
	_, pid := startLesson(t, "nc", "run", "-p", "8082:80", rootfs, "nc", "-ll", "-p", "80", "-e", "cat")
	waitForListener(t, pid, 80)

	// From another machine: the container must see its own address.
	conn := dialFromOutside(t, net.JoinHostPort(outsideHostIP.String(), "8082"))
	echo(t, conn, "from outside")
	if peers := peersOf(t, pid, 80); !contains(peers, outsideClientIP.String()) {
		t.Errorf("the container sees the outside client as %v; want its real address %s (no masquerade)", peers, outsideClientIP)
	}
	conn.Close()

	// From the host and from another container, the port must still work:
	// their replies must come back through the host, so they are masqueraded.
	conn, err := net.DialTimeout("tcp", "127.0.0.1:8082", 5*time.Second)
	if err != nil {
		t.Fatalf("connect 127.0.0.1:8082 from the host: %v; want the published port to work", err)
	}
	echo(t, conn, "from the host")
	conn.Close()
	out, errOut, status := runLesson(t, "run", rootfs, "sh", "-c", "echo from-a-container | nc -w 5 10.99.0.1 8082")
	if status != 0 || out != "from-a-container\n" {
		t.Errorf("nc 10.99.0.1 8082 from another container: status %d, stdout %q, stderr %q; want the echo back", status, out, errOut)
	}
}

// echo sends a line through conn and wants it back from the container's cat.
func echo(t *testing.T, conn net.Conn, line string) {
	t.Helper()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintln(conn, line)
	got, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || got != line+"\n" {
		t.Fatalf("echo through the published port: got %q, %v; want %q", got, err, line+"\n")
	}
}

// dialFromOutside connects to addr from a new network namespace, 10.98.0.2,
// linked to the host's 10.98.0.1. The socket keeps its namespace alive.
func dialFromOutside(t *testing.T, addr string) net.Conn {
	t.Helper()
	type result struct {
		conn net.Conn
		err  error
	}
	done := make(chan result)
	go func() {
		// This thread alone enters the new namespace. It stays locked: Go
		// ends the thread with the goroutine instead of reusing it.
		runtime.LockOSThread()
		conn, err := dialInNewNetns(t, addr)
		done <- result{conn, err}
	}()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.conn
}

func dialInNewNetns(t *testing.T, addr string) (net.Conn, error) {
	host, err := netns.Get()
	if err != nil {
		return nil, err
	}
	defer host.Close()
	outside, err := netns.New() // unshare(CLONE_NEWNET) for this thread
	if err != nil {
		return nil, fmt.Errorf("new network namespace: %w", err)
	}
	defer outside.Close()
	inHost, err := netlink.NewHandleAt(host, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink socket in the host's namespace: %w", err)
	}
	defer inHost.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "outside0"}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(outside))}
	if err := inHost.LinkAdd(veth); err != nil {
		return nil, fmt.Errorf("ip link add outside0 type veth: %w", err)
	}
	t.Cleanup(func() { netlink.LinkDel(veth) })
	for _, side := range []struct {
		h    *netlink.Handle
		name string
		ip   net.IP
	}{{inHost, "outside0", outsideHostIP}, {nil, "eth0", outsideClientIP}} {
		h := side.h
		if h == nil {
			h = &netlink.Handle{} // this thread's namespace: the outside one
		}
		link, err := h.LinkByName(side.name)
		if err == nil {
			err = h.AddrAdd(link, &netlink.Addr{IPNet: &net.IPNet{IP: side.ip, Mask: net.CIDRMask(24, 32)}})
		}
		if err == nil {
			err = h.LinkSetUp(link)
		}
		if err != nil {
			return nil, fmt.Errorf("set up %s: %w", side.name, err)
		}
	}
	var conn net.Conn
	for try := 0; try < 50; try++ { // until the links are up
		if conn, err = net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
			return conn, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, fmt.Errorf("connect %s from outside: %w", addr, err)
}

// waitForListener waits until the container of pid listens on TCP port p.
func waitForListener(t *testing.T, pid int, p uint16) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, s := range tcpSockets(t, pid) {
			if s.localPort == p && s.state == "0A" { // LISTEN
				return
			}
		}
	}
	t.Fatalf("nothing listens on port %d in the container", p)
}

// peersOf lists the addresses connected to port p in the container of pid.
func peersOf(t *testing.T, pid int, p uint16) []string {
	t.Helper()
	var peers []string
	for _, s := range tcpSockets(t, pid) {
		if s.localPort == p && s.state == "01" { // ESTABLISHED
			peers = append(peers, s.remote.String())
		}
	}
	return peers
}

type tcpSocket struct {
	localPort uint16
	remote    net.IP
	state     string
}

// tcpSockets reads /proc/PID/net/tcp and tcp6: the TCP sockets of pid's
// network namespace. busybox listens on IPv6 sockets, which take IPv4
// connections too, with addresses such as ::ffff:10.98.0.2.
func tcpSockets(t *testing.T, pid int) []tcpSocket {
	t.Helper()
	var sockets []tcpSocket
	for _, file := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, file))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 4 {
				continue
			}
			_, lport, _ := strings.Cut(f[1], ":")
			raddr, _, _ := strings.Cut(f[2], ":")
			port, _ := strconv.ParseUint(lport, 16, 16)
			sockets = append(sockets, tcpSocket{uint16(port), procIP(raddr), f[3]})
		}
	}
	return sockets
}

// procIP decodes an address of /proc/net/tcp*: hex, in 32-bit words of
// the host's byte order (little-endian on x86).
func procIP(h string) net.IP {
	b, _ := hex.DecodeString(h)
	for i := 0; i+4 <= len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	if ip := net.IP(b).To4(); ip != nil {
		return ip
	}
	return net.IP(b)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
