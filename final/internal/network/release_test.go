package network

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReleaseOnlyTheHoldersAddress: a second cleanup of a container that
// is gone must not free the address another container holds now.
func TestReleaseOnlyTheHoldersAddress(t *testing.T) {
	s := &Store{Root: t.TempDir()}
	n := &Network{Name: "n", Subnet: "10.99.0.0/24", Gateway: "10.99.0.1"}
	a, b := strings.Repeat("a", 64), strings.Repeat("b", 64)
	ip, err := s.allocate(n, Endpoint{ID: a, Name: "a", HostsFile: "/x"})
	if err != nil {
		t.Fatal(err)
	}
	s.release(n, a, ip.String())
	if again, _ := s.allocate(n, Endpoint{ID: b, Name: "b", HostsFile: "/y"}); !again.Equal(ip) {
		t.Fatalf("b got %v, want the freed %v", again, ip)
	}
	s.release(n, a, ip.String()) // a's cleanup, once more
	if _, err := os.Stat(filepath.Join(s.ipsDir(n), ip.String())); err != nil {
		t.Errorf("a second release by a freed b's address: %v", err)
	}
}
