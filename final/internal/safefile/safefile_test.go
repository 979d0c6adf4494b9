package safefile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestWriteReplacesWhole(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "state.json")
	if err := WriteJSON(file, map[string]int{"a": 1}, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(file, map[string]int{"a": 2}, 0o600); err != nil {
		t.Fatal(err)
	}
	var got map[string]int
	if err := ReadJSON(file, &got); err != nil || got["a"] != 2 {
		t.Errorf("ReadJSON = %v, %v", got, err)
	}
	if info, _ := os.Stat(file); info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", info.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d files in the folder, want only state.json", len(entries))
	}
	if err := Write(filepath.Join(dir, "no", "such"), nil, 0o600); err == nil {
		t.Error("Write into a missing folder succeeded")
	}
}

func TestIsTemp(t *testing.T) {
	for name, want := range map[string]bool{
		".state.json.tmp-123": true, "state.json": false, ".hidden": false, "x.tmp-1": false,
	} {
		if IsTemp(name) != want {
			t.Errorf("IsTemp(%q) = %v", name, !want)
		}
	}
}

func TestTryLockExisting(t *testing.T) {
	file := filepath.Join(t.TempDir(), "lock")
	if _, _, err := TryLockExisting(file, unix.LOCK_SH); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("TryLockExisting of a missing file: %v, want ErrNotExist", err)
	}
	held, err := LockFile(file, unix.LOCK_EX)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := TryLockExisting(file, unix.LOCK_SH); ok || err != nil {
		t.Errorf("TryLockExisting of a held lock: ok %v, %v", ok, err)
	}
	held.Close()
	f, ok, err := TryLockExisting(file, unix.LOCK_EX)
	if !ok || err != nil {
		t.Fatalf("TryLockExisting of a free lock: ok %v, %v", ok, err)
	}
	f.Close()
	if _, ok, err := TryLockExisting(filepath.Dir(file), unix.LOCK_EX); !ok || err != nil {
		t.Errorf("TryLockExisting of a folder: ok %v, %v", ok, err)
	}
}

func TestCreateNeverReplaces(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pair")
	if err := Create(file, []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Create(file, []byte("second\n"), 0o600); !errors.Is(err, os.ErrExist) {
		t.Errorf("a second Create: %v, want ErrExist", err)
	}
	if data, _ := os.ReadFile(file); string(data) != "first\n" {
		t.Errorf("the file holds %q", data)
	}
	if entries, _ := os.ReadDir(filepath.Dir(file)); len(entries) != 1 {
		t.Errorf("%d files in the folder, want 1", len(entries))
	}
}
