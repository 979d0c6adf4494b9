package network

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHostsFiles: on a user-defined network containers list each other;
// on the default network each lists itself alone; --add-host entries go
// into the container's own file only.
func TestHostsFiles(t *testing.T) {
	s := &Store{Root: t.TempDir()}
	user := &Network{Name: "app", Subnet: "10.99.0.0/24", Gateway: "10.99.0.1"}
	def := &Network{Name: DefaultName, Subnet: "10.98.0.0/24", Gateway: "10.98.0.1"}
	ep := func(c byte, name string, extra ...string) Endpoint {
		file := filepath.Join(s.Root, name+".hosts")
		os.WriteFile(file, nil, 0o644)
		return Endpoint{ID: strings.Repeat(string(c), 64), Name: name, HostsFile: file, ExtraHosts: extra}
	}
	web, db, lone, other := ep('a', "web", "gw:10.0.0.9"), ep('b', "db"), ep('c', "lone"), ep('d', "other")
	for _, x := range []struct {
		n  *Network
		ep Endpoint
	}{{user, web}, {user, db}, {def, lone}, {def, other}, {def, web}} {
		if _, err := s.allocate(x.n, x.ep); err != nil {
			t.Fatal(err)
		}
		if err := s.refreshHosts(x.n, x.ep); err != nil {
			t.Fatal(err)
		}
	}
	read := func(e Endpoint) string { data, _ := os.ReadFile(e.HostsFile); return string(data) }
	if h := read(web); !strings.Contains(h, "\tdb ") || !strings.Contains(h, "\tweb ") || !strings.Contains(h, "10.0.0.9\tgw\n") || strings.Contains(h, "lone") {
		t.Errorf("web's hosts:\n%s", h)
	}
	if h := read(db); !strings.Contains(h, "\tweb ") || strings.Contains(h, "gw") || strings.Contains(h, "10.98.") {
		t.Errorf("db's hosts:\n%s", h)
	}
	if h := read(lone); !strings.Contains(h, "\tlone ") || strings.Contains(h, "other") || strings.Contains(h, "web") {
		t.Errorf("lone's hosts, on the default network:\n%s", h)
	}
	// db leaves: web's file forgets it.
	ip := s.endpointOf(user, db.ID).IP
	s.release(user, db.ID, ip)
	s.refreshHosts(user, Endpoint{ID: db.ID})
	if h := read(web); strings.Contains(h, "db") {
		t.Errorf("web's hosts after db left:\n%s", h)
	}
}

func TestCheckAddress(t *testing.T) {
	s := &Store{Root: t.TempDir()}
	n := &Network{Name: "app", Subnet: "10.99.0.0/24", Gateway: "10.99.0.1"}
	if _, err := s.allocate(n, Endpoint{ID: strings.Repeat("a", 64), Name: "a", HostsFile: "/x", IP: "10.99.0.7"}); err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]string{
		"10.99.0.8":   "",
		"10.99.0.7":   "address 10.99.0.7 is already in use on network app",
		"10.98.0.7":   "address 10.98.0.7 is not in network app's subnet 10.99.0.0/24",
		"10.99.0.1":   "address 10.99.0.1 is network app's gateway",
		"10.99.0.255": "address 10.99.0.255 is the first or last of subnet 10.99.0.0/24, not a host's",
		"::1":         `invalid address "::1": want an IPv4 address`,
		"web":         `invalid address "web": want an IPv4 address`,
	} {
		_, err := s.CheckAddress(n, addr)
		if (want == "" && err != nil) || (want != "" && (err == nil || err.Error() != want)) {
			t.Errorf("CheckAddress %s: %v, want %q", addr, err, want)
		}
	}
}
