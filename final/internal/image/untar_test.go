package image

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The malicious tars live in testdata/malicious, where FuzzUntar finds
// them as seeds; they are made from the table below. After changing it:
//
//	go test ./final/internal/image -run TestMaliciousTarsUpToDate -update
var update = flag.Bool("update", false, "rewrite testdata/malicious from the table in untar_test.go")

const maliciousDir = "testdata/malicious"

// The scratch tree that untar runs in (see newScratch): the layer being
// unpacked is layers/.unpack-test, and these paths are relative to it.
const (
	toOutside = "../../outside"
	sibling   = "5ab1e0000000000000000000000000000000000000000000000000000000000a"
)

// maliciousTar is one hostile (or odd) layer tar: what untar must do with
// it. wantErr is part of the error untar must return, "" if it must
// succeed; then check, if set, checks the unpacked layer.
type maliciousTar struct {
	file    string
	tar     func(t testing.TB) []byte
	wantErr string
	check   func(t *testing.T, layer string)
}

func entries(files ...tarFile) func(t testing.TB) []byte {
	return func(t testing.TB) []byte { return makeTar(t, files...) }
}

var maliciousTars = []maliciousTar{
	// Whiteouts must name one file of their folder.
	{file: "whiteout-dotdot.tar", tar: entries(tarFile{Name: ".wh..."}), wantErr: "whiteout"},
	{file: "whiteout-dot.tar", tar: entries(tarFile{Name: ".wh.."}), wantErr: "whiteout"},
	{file: "whiteout-empty.tar", tar: entries(tarFile{Name: ".wh."}), wantErr: "whiteout"},
	{file: "whiteout-dotdot-in-dir.tar", tar: entries(tarFile{Name: "a/", Type: tar.TypeDir}, tarFile{Name: "a/.wh..."}), wantErr: "whiteout"},
	{file: "whiteout-dot-in-dir.tar", tar: entries(tarFile{Name: "a/b/.wh.."}), wantErr: "whiteout"},
	{file: "whiteout-dir-entry.tar", tar: entries(tarFile{Name: ".wh.../", Type: tar.TypeDir}), wantErr: "whiteout"},
	{file: "whiteout-through-symlink.tar", wantErr: "symlink", tar: entries(
		tarFile{Name: "evil", Type: tar.TypeSymlink, Link: toOutside}, tarFile{Name: "evil/.wh.file"})},
	{file: "opaque-through-symlink.tar", wantErr: "symlink", tar: entries(
		tarFile{Name: "evil", Type: tar.TypeSymlink, Link: toOutside}, tarFile{Name: "evil/.wh..wh..opq"})},
	{file: "whiteout-under-file.tar", wantErr: "not a folder", tar: entries(tarFile{Name: "f"}, tarFile{Name: "f/.wh.x"})},
	{file: "whiteouts-ok.tar", tar: entries(
		tarFile{Name: ".wh..wh..opq"}, tarFile{Name: "etc/.wh.passwd"}, tarFile{Name: ".wh..wh.plnk"}, tarFile{Name: "./.wh.x"}),
		check: func(t *testing.T, layer string) {
			checkOpaque(t, layer)
			checkWhiteout(t, filepath.Join(layer, "etc/passwd"))
			checkWhiteout(t, filepath.Join(layer, "x"))
			checkMissing(t, filepath.Join(layer, ".wh..wh.plnk"))
			checkMissing(t, filepath.Join(layer, "plnk"))
		}},

	// Names that climb out, or come in odd forms.
	{file: "dotdot.tar", tar: entries(tarFile{Name: "ok", Body: "ok"}, tarFile{Name: "../escape", Body: "pwned"}), wantErr: "outside the layer"},
	{file: "dotdot-in-dir.tar", tar: entries(tarFile{Name: "a/", Type: tar.TypeDir}, tarFile{Name: "a/../../escape"}), wantErr: "outside the layer"},
	{file: "dotdot-absolute.tar", tar: entries(tarFile{Name: "/../outside/file", Body: "pwned"}), wantErr: "outside the layer"},
	{file: "names-ok.tar", tar: entries(
		tarFile{Name: "/etc/motd", Body: "abs"}, tarFile{Name: "./a/./b/../c", Body: "dot"}, tarFile{Name: "//x//y", Body: "slashes"},
		tarFile{Name: "./", Type: tar.TypeDir, Mode: 0o700}),
		check: func(t *testing.T, layer string) {
			checkContent(t, filepath.Join(layer, "etc/motd"), "abs")
			checkContent(t, filepath.Join(layer, "a/c"), "dot")
			checkContent(t, filepath.Join(layer, "x/y"), "slashes")
			checkMissing(t, filepath.Join(layer, "a/b"))
			checkFile(t, layer, unix.S_IFDIR, 0o700, 0, 0)
		}},
	{file: "root-as-file.tar", tar: entries(tarFile{Name: ".", Body: "x"}), wantErr: "root must be a folder"},
	{file: "root-as-symlink.tar", tar: entries(tarFile{Name: ".", Type: tar.TypeSymlink, Link: toOutside}), wantErr: "root must be a folder"},
	// The name field holds "ok", a NUL and "/../../escape": tar readers
	// stop at the NUL.
	{file: "nul-in-name.tar", tar: nulInName, check: func(t *testing.T, layer string) {
		checkContent(t, filepath.Join(layer, "ok"), "nul")
	}},
	{file: "nul-in-pax-path.tar", tar: nulInPAXPath, wantErr: "read tar"},

	// Symlinks are never followed while unpacking.
	{file: "file-through-symlink.tar", wantErr: "symlink", tar: entries(
		tarFile{Name: "evil", Type: tar.TypeSymlink, Link: toOutside}, tarFile{Name: "evil/escape", Body: "pwned"})},
	{file: "file-through-absolute-symlink.tar", wantErr: "symlink", tar: entries(
		tarFile{Name: "evil", Type: tar.TypeSymlink, Link: "/"}, tarFile{Name: "evil/tmp/escape", Body: "pwned"})},
	{file: "overwrite-through-symlink.tar", wantErr: "symlink", tar: entries(
		tarFile{Name: "evil", Type: tar.TypeSymlink, Link: toOutside}, tarFile{Name: "evil/file", Body: "pwned"})},
	{file: "sibling-through-symlink.tar", wantErr: "symlink", tar: entries(
		tarFile{Name: "sib", Type: tar.TypeSymlink, Link: "../" + sibling}, tarFile{Name: "sib/etc/passwd", Body: "pwned"})},
	{file: "dir-through-symlink.tar", wantErr: "symlink", tar: entries(
		tarFile{Name: "evil", Type: tar.TypeSymlink, Link: toOutside}, tarFile{Name: "evil/subfolder/", Type: tar.TypeDir, Mode: 0o777})},
	{file: "symlink-over-file.tar", tar: entries(
		tarFile{Name: "s", Body: "first"}, tarFile{Name: "s", Type: tar.TypeSymlink, Link: toOutside + "/file"}),
		check: func(t *testing.T, layer string) { checkFile(t, filepath.Join(layer, "s"), unix.S_IFLNK, 0, 0, 0) }},
	// A folder made a symlink after its entry: its mtime, set at the end,
	// must not go through it.
	{file: "dir-mtime-through-symlink.tar", tar: entries(
		tarFile{Name: "a/", Type: tar.TypeDir}, tarFile{Name: "a/subfolder/", Type: tar.TypeDir},
		tarFile{Name: "a", Type: tar.TypeSymlink, Link: toOutside}),
		check: func(t *testing.T, layer string) { checkFile(t, filepath.Join(layer, "a"), unix.S_IFLNK, 0, 0, 0) }},
	// One name changing type: folder, symlink out, then a file under it.
	{file: "dir-then-symlink-then-file.tar", wantErr: "symlink", tar: entries(
		tarFile{Name: "d/", Type: tar.TypeDir}, tarFile{Name: "d", Type: tar.TypeSymlink, Link: toOutside},
		tarFile{Name: "d/file", Body: "pwned"})},
	{file: "symlink-then-dir.tar", tar: entries(
		tarFile{Name: "d", Type: tar.TypeSymlink, Link: toOutside}, tarFile{Name: "d/", Type: tar.TypeDir, Mode: 0o700},
		tarFile{Name: "d/file", Body: "mine"}),
		check: func(t *testing.T, layer string) {
			checkFile(t, filepath.Join(layer, "d"), unix.S_IFDIR, 0o700, 0, 0)
			checkContent(t, filepath.Join(layer, "d/file"), "mine")
		}},
	{file: "file-then-dir.tar", tar: entries(
		tarFile{Name: "f", Body: "x"}, tarFile{Name: "f/", Type: tar.TypeDir}, tarFile{Name: "f/g", Body: "y"}),
		check: func(t *testing.T, layer string) { checkContent(t, filepath.Join(layer, "f/g"), "y") }},

	// Hard links stay inside, and link files only.
	{file: "hardlink-out.tar", tar: entries(tarFile{Name: "passwd", Type: tar.TypeLink, Link: "../../outside/file"}), wantErr: "outside the layer"},
	{file: "hardlink-sibling.tar", tar: entries(tarFile{Name: "p", Type: tar.TypeLink, Link: "../" + sibling + "/etc/passwd"}), wantErr: "outside the layer"},
	{file: "hardlink-absolute.tar", tar: entries(tarFile{Name: "p", Type: tar.TypeLink, Link: "/etc/passwd"}), wantErr: "no such file"},
	{file: "hardlink-through-symlink.tar", wantErr: "symlink", tar: entries(
		tarFile{Name: "evil", Type: tar.TypeSymlink, Link: toOutside}, tarFile{Name: "h", Type: tar.TypeLink, Link: "evil/file"})},
	{file: "hardlink-to-dir.tar", wantErr: "a folder", tar: entries(
		tarFile{Name: "d/", Type: tar.TypeDir}, tarFile{Name: "h", Type: tar.TypeLink, Link: "d"})},
	{file: "hardlink-to-root.tar", tar: entries(tarFile{Name: "h", Type: tar.TypeLink, Link: "."}), wantErr: "a folder"},
	{file: "hardlink-to-itself.tar", tar: entries(tarFile{Name: "h", Body: "x"}, tarFile{Name: "h", Type: tar.TypeLink, Link: "h"}), wantErr: "no such file"},
	{file: "hardlink-to-symlink.tar", tar: entries(
		tarFile{Name: "s", Type: tar.TypeSymlink, Link: toOutside + "/file"}, tarFile{Name: "h", Type: tar.TypeLink, Link: "s"},
		tarFile{Name: "f", Body: "orig"}, tarFile{Name: "g", Type: tar.TypeLink, Link: "f"}, tarFile{Name: "f", Body: "new"}),
		check: func(t *testing.T, layer string) {
			checkFile(t, filepath.Join(layer, "h"), unix.S_IFLNK, 0, 0, 0)
			checkContent(t, filepath.Join(layer, "g"), "orig")
			checkContent(t, filepath.Join(layer, "f"), "new")
		}},

	// Device nodes and FIFOs.
	{file: "devices-ok.tar", tar: entries(
		tarFile{Name: "dev/null", Type: tar.TypeChar, Mode: 0o666, Major: 1, Minor: 3},
		tarFile{Name: "dev/sda", Type: tar.TypeBlock, Mode: 0o660, Gid: 6, Major: 8, Minor: 0},
		tarFile{Name: "dev/big", Type: tar.TypeChar, Mode: 0o600, Major: maxMajor, Minor: maxMinor},
		tarFile{Name: "run/fifo", Type: tar.TypeFifo, Mode: 0o620}),
		check: func(t *testing.T, layer string) {
			checkFile(t, filepath.Join(layer, "dev/sda"), unix.S_IFBLK, 0o660, 0, 6)
			checkFile(t, filepath.Join(layer, "run/fifo"), unix.S_IFIFO, 0o620, 0, 0)
			if st := stat(t, filepath.Join(layer, "dev/big")); unix.Major(st.Rdev) != maxMajor || unix.Minor(st.Rdev) != maxMinor {
				t.Errorf("dev/big: device %d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
			}
		}},
	// mknod(2) would drop the major's high bits: 4096:0 would be 0:0.
	{file: "device-major-too-big.tar", tar: entries(tarFile{Name: "dev/x", Type: tar.TypeChar, Major: 1 << 12}), wantErr: "out of range"},
	{file: "device-minor-too-big.tar", tar: entries(tarFile{Name: "dev/x", Type: tar.TypeBlock, Minor: 1 << 20}), wantErr: "out of range"},

	// Long names are an error, not a crash.
	{file: "long-path.tar", tar: entries(tarFile{Name: strings.Repeat("d/", 2100) + "f", Body: "deep"}), wantErr: "file name too long"},
	{file: "long-name.tar", tar: entries(tarFile{Name: strings.Repeat("n", 300), Body: "x"}), wantErr: "file name too long"},
	{file: "long-symlink-target.tar", tar: entries(tarFile{Name: "s", Type: tar.TypeSymlink, Link: strings.Repeat("t/", 3000)}), wantErr: "file name too long"},
	{file: "long-whiteout.tar", tar: entries(tarFile{Name: ".wh." + strings.Repeat("w", 300)}), wantErr: "file name too long"},
	{file: "whiteout-of-longest-name.tar", tar: entries(tarFile{Name: "d/.wh." + strings.Repeat("w", 255)}),
		check: func(t *testing.T, layer string) {
			checkWhiteout(t, filepath.Join(layer, "d", strings.Repeat("w", 255)))
		}},
	{file: "long-hardlink.tar", tar: entries(tarFile{Name: "h", Type: tar.TypeLink, Link: strings.Repeat("l", 5000)}), wantErr: "file name too long"},
	{file: "newline-in-name.tar", tar: entries(tarFile{Name: "x\n\x1b[31m", Body: "f"}, tarFile{Name: "x\n\x1b[31m/y\nz", Body: "y"}), wantErr: "not a folder"},

	// Attributes: xattrs that steer overlayfs are dropped, owners and
	// modes are kept, out-of-range owners are refused.
	{file: "xattrs.tar", tar: entries(
		tarFile{Name: "d/", Type: tar.TypeDir, Xattrs: map[string]string{
			"trusted.overlay.opaque": "y", "trusted.overlay.redirect": "/etc", "user.overlay.opaque": "y", "user.ok": "kept"}},
		tarFile{Name: "ping", Body: "elf", Mode: 0o755, Xattrs: map[string]string{
			"security.capability":      "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
			"trusted.overlay.metacopy": ""}}),
		check: func(t *testing.T, layer string) {
			for _, name := range []string{"trusted.overlay.opaque", "trusted.overlay.redirect", "user.overlay.opaque"} {
				if got := xattr(filepath.Join(layer, "d"), name); got != "" {
					t.Errorf("d: xattr %s = %q, want none", name, got)
				}
			}
			if xattr(filepath.Join(layer, "d"), "user.ok") != "kept" {
				t.Error("d: xattr user.ok was not set")
			}
			if listed := listXattrs(filepath.Join(layer, "ping")); slices.Contains(listed, "trusted.overlay.metacopy") || !slices.Contains(listed, "security.capability") {
				t.Errorf("ping: xattrs %v, want security.capability and no trusted.overlay.metacopy", listed)
			}
		}},
	{file: "setuid.tar", tar: entries(
		tarFile{Name: "su", Body: "su", Mode: 0o4755}, tarFile{Name: "user-su", Body: "x", Mode: 0o6750, Uid: 1000, Gid: 1000},
		tarFile{Name: "shared/", Type: tar.TypeDir, Mode: 0o3777}),
		check: func(t *testing.T, layer string) {
			checkFile(t, filepath.Join(layer, "su"), unix.S_IFREG, 0o4755, 0, 0)
			checkFile(t, filepath.Join(layer, "user-su"), unix.S_IFREG, 0o6750, 1000, 1000)
			checkFile(t, filepath.Join(layer, "shared"), unix.S_IFDIR, 0o3777, 0, 0)
		}},
	// chown(2) would truncate uid 2^32 to 0, root.
	{file: "uid-too-big.tar", tar: entries(tarFile{Name: "f", Body: "x", Uid: 1 << 32}), wantErr: "out of range"},
	{file: "gid-unchanged.tar", tar: entries(tarFile{Name: "f", Body: "x", Gid: 1<<32 - 1}), wantErr: "out of range"},
	// An old GNU sparse file of 1 GiB and 1 byte, from a 1.5 kB tar.
	{file: "sparse-too-big.tar", tar: sparseTar(maxSparseSize + 1), wantErr: "sparse"},
	// Four of 300 MiB: each under the limit, more than it together.
	{file: "sparse-many.tar", tar: sparseTars(4, 300<<20), wantErr: "sparse files"},
	{file: "sparse-ok.tar", tar: sparseTar(100), check: func(t *testing.T, layer string) {
		checkContent(t, filepath.Join(layer, "sparse"), strings.Repeat("\x00", 100))
	}},
	{file: "unknown-type.tar", tar: entries(tarFile{Name: "v", Type: 'V'}), wantErr: "unsupported"},
	{file: "truncated.tar", tar: func(t testing.TB) []byte {
		return makeTar(t, tarFile{Name: "f", Body: strings.Repeat("x", 2000)})[:1024]
	},
		wantErr: "unexpected EOF"},
}

// nulInName is a tar whose name field holds a NUL, then "/../../escape".
func nulInName(t testing.TB) []byte {
	data := makeTar(t, tarFile{Name: "okX/../../escape", Body: "nul"})
	data[2] = 0
	fixChecksum(data[:512])
	return data
}

// nulInPAXPath is a tar whose PAX path record holds a NUL.
func nulInPAXPath(t testing.TB) []byte {
	long := strings.Repeat("p", 120) // too long for the name field: a PAX record
	data := makeTar(t, tarFile{Name: long + "X/../../../escape", Body: "nul"})
	i := bytes.Index(data, []byte(long+"X"))
	data[i+len(long)] = 0
	return data
}

// sparseTar is an old GNU sparse file of size bytes, all of it a hole.
func sparseTar(size int64) func(t testing.TB) []byte {
	return func(t testing.TB) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		must(t, tw.WriteHeader(&tar.Header{Name: "sparse", Typeflag: tar.TypeReg, Mode: 0o644, Format: tar.FormatGNU,
			ModTime: time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)}))
		must(t, tw.Close())
		data := buf.Bytes()
		data[156] = tar.TypeGNUSparse
		copy(data[483:495], fmt.Sprintf("%011o\x00", size)) // realsize
		fixChecksum(data[:512])
		return data
	}
}

// sparseTars is n old GNU sparse files of size bytes each.
func sparseTars(n int, size int64) func(t testing.TB) []byte {
	return func(t testing.TB) []byte {
		one := sparseTar(size)(t)
		one = one[:len(one)-1024] // without the end-of-archive blocks
		var all []byte
		for i := 0; i < n; i++ {
			hdr := append([]byte{}, one...)
			copy(hdr[0:100], fmt.Sprintf("sparse%d\x00", i))
			fixChecksum(hdr[:512])
			all = append(all, hdr...)
		}
		return append(all, make([]byte, 1024)...)
	}
}

// fixChecksum recomputes a tar header block's checksum.
func fixChecksum(hdr []byte) {
	copy(hdr[148:156], "        ")
	var sum int64
	for _, b := range hdr {
		sum += int64(b)
	}
	copy(hdr[148:156], fmt.Sprintf("%06o\x00 ", sum))
}

func TestMaliciousTarsUpToDate(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range maliciousTars {
		seen[tc.file] = true
		want := tc.tar(t)
		path := filepath.Join(maliciousDir, tc.file)
		if *update {
			must(t, os.MkdirAll(maliciousDir, 0o755))
			must(t, os.WriteFile(path, want, 0o644))
			continue
		}
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is not what the table makes (%v): run this test with -update", path, err)
		}
	}
	files, err := os.ReadDir(maliciousDir)
	must(t, err)
	for _, f := range files {
		if !seen[f.Name()] {
			t.Errorf("%s/%s is in no test case", maliciousDir, f.Name())
		}
	}
}

// TestMaliciousTars unpacks each tar of testdata/malicious in a scratch
// store, requiring that nothing outside the layer changes, and that the
// tar is refused or unpacked as its case says (as root: other users can
// chown nothing, and fail earlier). Then it imports it into a store,
// which must be left as it was if the import fails.
func TestMaliciousTars(t *testing.T) {
	root := os.Geteuid() == 0
	for _, tc := range maliciousTars {
		t.Run(strings.TrimSuffix(tc.file, ".tar"), func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(maliciousDir, tc.file))
			must(t, err)
			layer, err := untarInScratch(t, data)
			if err != nil {
				t.Log(err)
				checkOneLine(t, err)
			}
			if !root {
				return // the invariant is all that holds whoever runs it
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("untar: %v, want success", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("untar: %v, want an error with %q", err, tc.wantErr)
			case tc.check != nil:
				tc.check(t, layer)
			}

			s := openStore(t)
			img, err := s.ImportTar(bytes.NewReader(data), "evil")
			if tc.wantErr == "" {
				must(t, err)
				stat(t, s.LayerDirs(img)[0])
				return
			}
			if err == nil {
				t.Fatal("ImportTar succeeded, want an error")
			}
			checkOneLine(t, err)
			checkStoreEmpty(t, s)
		})
	}
}

// checkOneLine checks that err is one line of sane length.
func checkOneLine(t *testing.T, err error) {
	t.Helper()
	if msg := err.Error(); strings.ContainsAny(msg, "\n\r\x1b") || len(msg) > 400 {
		t.Errorf("error of %d bytes, want one short line: %q", len(msg), msg)
	}
}

// checkStoreEmpty checks that s holds no layer, no temporary folder and
// no index.
func checkStoreEmpty(t *testing.T, s *Store) {
	t.Helper()
	if entries, _ := os.ReadDir(s.layersDir()); len(entries) != 0 {
		t.Errorf("layers/ holds %v, want nothing (not even a temporary folder)", entries)
	}
	checkMissing(t, s.indexPath())
}

// FuzzUntar unpacks tars into a scratch store and requires that nothing
// outside the layer being unpacked changes, whether untar succeeds or
// fails. Its seeds are the tars of testdata/malicious and of the other
// tests; crashers it finds go to testdata/fuzz/FuzzUntar.
func FuzzUntar(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(maliciousDir, "*.tar"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds in %s: %v", maliciousDir, err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(makeTar(f,
		tarFile{Name: "./", Type: tar.TypeDir}, tarFile{Name: "bin/", Type: tar.TypeDir},
		tarFile{Name: "bin/busybox", Body: "BB", Mode: 0o755}, tarFile{Name: "bin/sh", Type: tar.TypeLink, Link: "bin/busybox"},
		tarFile{Name: "bin/ls", Type: tar.TypeSymlink, Link: "/bin/busybox"}, tarFile{Name: "etc/.wh.passwd"},
		tarFile{Name: "var/cache/.wh..wh..opq"}, tarFile{Name: "dev/null", Type: tar.TypeChar, Major: 1, Minor: 3}))
	f.Fuzz(func(t *testing.T, data []byte) {
		if bigEntry(data) {
			t.Skip("an entry bigger than 1 MiB: a sparse file, slow to write")
		}
		if _, err := untarInScratch(t, data); err != nil {
			checkOneLine(t, err)
		}
	})
}

// bigEntry tells whether the tar data has an entry bigger than 1 MiB,
// which only a sparse file can have in a small tar.
func bigEntry(data []byte) bool {
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err != nil {
			return false
		}
		if hdr.Size > 1<<20 {
			return true
		}
	}
}

// untarInScratch runs untar on data in a scratch tree laid out like a
// store, and fails the test if anything outside the layer changed. It
// returns the layer's folder and untar's error.
func untarInScratch(t *testing.T, data []byte) (string, error) {
	t.Helper()
	scratch := newScratch(t)
	layer := filepath.Join(scratch, "layers", ".unpack-test")
	before := snapshot(t, scratch, layer)
	err := untar(bytes.NewReader(data), layer, Owners{})
	after := snapshot(t, scratch, layer)
	if !maps.Equal(before, after) {
		all := maps.Clone(before)
		maps.Copy(all, after)
		for _, p := range slices.Sorted(maps.Keys(all)) {
			if before[p] != after[p] {
				t.Errorf("outside the layer, %s changed:\n  before: %s\n  after:  %s", p, before[p], after[p])
			}
		}
		t.Fatalf("untar changed what is outside the layer (untar: %v)", err)
	}
	return layer, err
}

// newScratch lays out a store: layers/ with the (empty) folder to unpack
// into and a sibling layer, images.json, and outside/ with a file, a
// symlink and a folder.
func newScratch(t *testing.T) string {
	t.Helper()
	scratch := t.TempDir()
	for _, dir := range []string{"layers/.unpack-test", "layers/" + sibling + "/etc", "outside/subfolder"} {
		must(t, os.MkdirAll(filepath.Join(scratch, dir), 0o755))
	}
	must(t, os.WriteFile(filepath.Join(scratch, "layers", sibling, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\n"), 0o644))
	must(t, os.Symlink("/etc/passwd", filepath.Join(scratch, "layers", sibling, "etc/link")))
	must(t, os.WriteFile(filepath.Join(scratch, "images.json"), []byte("{}\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(scratch, "outside/file"), []byte("precious"), 0o644))
	must(t, os.WriteFile(filepath.Join(scratch, "outside/subfolder/inner"), []byte("also"), 0o600))
	must(t, os.Symlink("file", filepath.Join(scratch, "outside/link")))
	// Times in the past, so that a change within the same clock tick shows.
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	must(t, filepath.WalkDir(scratch, func(path string, d fs.DirEntry, err error) error {
		if err == nil {
			ts := unix.NsecToTimespec(old.UnixNano())
			err = unix.UtimesNanoAt(unix.AT_FDCWD, path, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
		}
		return err
	}))
	return scratch
}

// snapshot describes every file under dir but those in the folder skip
// (of which only its inode and type count): type, mode, owner, size,
// links, times (but the access time), device, symlink target, xattrs and
// a hash of the content. It opens regular files only: a FIFO would block.
func snapshot(t *testing.T, dir, skip string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			return err
		}
		if path == skip {
			files[path] = fmt.Sprintf("inode %d type %o", st.Ino, st.Mode&unix.S_IFMT)
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil // SkipDir would skip the rest of its folder
		}
		desc := fmt.Sprintf("inode %d mode %o owner %d:%d size %d links %d mtime %d.%d ctime %d.%d rdev %d",
			st.Ino, st.Mode, st.Uid, st.Gid, st.Size, st.Nlink, st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec, st.Rdev)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			desc += " -> " + target
		case unix.S_IFREG:
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			hash := sha256.New()
			_, err = io.Copy(hash, f)
			f.Close()
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" sha256 %x", hash.Sum(nil))
		}
		for _, name := range listXattrs(path) {
			desc += fmt.Sprintf(" %s=%q", name, xattr(path, name))
		}
		files[path] = desc
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", dir, err)
	}
	return files
}
