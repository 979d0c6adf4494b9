package container

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBrokenContainersAreListed: a container whose files cannot be read
// is listed as broken, found by its ID, and claimable once its owner is
// gone; one whose owner lives is not.
func TestBrokenContainersAreListed(t *testing.T) {
	s := &Store{Root: t.TempDir()}
	alive, err := s.Create(valid("alive"))
	if err != nil {
		t.Fatal(err)
	}
	dead, err := s.Create(valid("dead"))
	if err != nil {
		t.Fatal(err)
	}
	dead.Release() // its runtime died
	if err := os.Truncate(dead.Path("container.json"), 3); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(s.Root, "containers", strings.Repeat("e", 64)) // killed after mkdir
	os.Mkdir(empty, 0o700)

	all, err := s.List()
	if err != nil || len(all) != 3 {
		t.Fatalf("List = %d containers, %v; want 3", len(all), err)
	}
	got, err := s.Get(dead.Config.ID[:12])
	if err != nil || got.Status() != Broken || !strings.HasPrefix(got.Broken, "container.json: ") {
		t.Fatalf("Get of the broken container: %+v, %v", got, err)
	}
	if got := s.load(alive.Config.ID); got.Status() != Created {
		t.Errorf("a created container whose runtime lives is %q, want created", got.Status())
	}
	if got := s.load(strings.Repeat("e", 64)); got.Broken != "container.json is missing" {
		t.Errorf("an empty folder: broken %q", got.Broken)
	}

	claimed, err := s.ClaimUnowned()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range claimed {
		ids = append(ids, c.Config.ID)
		if err := s.Remove(c); err != nil {
			t.Error(err)
		}
		c.Release()
	}
	if len(ids) != 2 || strings.Contains(strings.Join(ids, " "), alive.Config.ID) {
		t.Errorf("claimed %v; want the broken and the empty one, not %s", ids, alive.Config.ID)
	}
	if entries, _ := os.ReadDir(filepath.Join(s.Root, "containers")); len(entries) != 1 {
		t.Errorf("after removing the claimed ones, %d folders are left, want 1", len(entries))
	}
	if err := s.load(alive.Config.ID).Claim(0); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("claiming a container whose owner lives: %v, want busy", err)
	}
}

func TestCreateNeedsAUniqueName(t *testing.T) {
	s := &Store{Root: t.TempDir()}
	if _, err := s.Create(valid("web")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(valid("web")); err == nil {
		t.Error("a second container named web was created")
	}
	if info, err := os.Stat(filepath.Join(s.Root, "containers")); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("the containers folder: %v, %v; want mode 0700", info.Mode().Perm(), err)
	}
}
