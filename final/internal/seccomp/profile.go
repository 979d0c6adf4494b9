package seccomp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"
	"unicode"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"skiff/internal/caps"
)

// profile is a seccomp profile in Docker's format, the file `docker run
// --security-opt seccomp=FILE` reads: the spec's linux.seccomp, plus
// rules that apply only to some containers (includes, excludes) and the
// architectures as a map from a native one to those its kernel also runs
// (archMap). resolve turns it into the spec's linux.seccomp for one
// container, as Docker does before it writes config.json.
type profile struct {
	specs.LinuxSeccomp                // defaultAction, defaultErrnoRet, architectures, flags
	ArchMap            []archMapEntry `json:"archMap,omitempty"`
	Syscalls           []profileRule  `json:"syscalls"`
}

type archMapEntry struct {
	Arch      specs.Arch   `json:"architecture"`
	SubArches []specs.Arch `json:"subArchitectures"`
}

// profileRule is one entry of syscalls: the spec's, with conditions.
type profileRule struct {
	specs.LinuxSyscall
	Name     string     `json:"name,omitempty"` // older profiles' single name
	Comment  string     `json:"comment,omitempty"`
	Includes *condition `json:"includes,omitempty"`
	Excludes *condition `json:"excludes,omitempty"`
}

// condition is what a rule's includes demand (all of it) or what its
// excludes refuse (any of it): capabilities in the container's bounding
// set, the host's architecture (in Go's words: "amd64"), a kernel of at
// least a version ("4.8": Linux 4.8 and later).
type condition struct {
	Caps      []string `json:"caps,omitempty"`
	Arches    []string `json:"arches,omitempty"`
	MinKernel string   `json:"minKernel,omitempty"`
}

// hostArch is the architecture includes and excludes name: skiff
// compiles filters for x86_64 hosts only (Compile).
const hostArch = "amd64"

// LoadProfile reads a profile in Docker's format and gives the spec's
// linux.seccomp for a container whose bounding set is caps on this
// host, checked by Compile. The format is Docker's default.json's:
// defaultAction, defaultErrnoRet, architectures or archMap, flags, and
// syscalls, each with names (or name), action, errnoRet, args, and the
// conditions includes and excludes. Unlike Docker, which takes a profile
// without defaultAction nor syscalls for no filter at all, skiff refuses
// it, and a field it does not know: a misspelt key must not turn the
// filter off. Every error is one line.
func LoadProfile(path string, bounding []string) (*specs.LinuxSeccomp, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	p, err := parseProfile(data)
	if err == nil {
		s := p.resolve(bounding, runningKernel())
		if _, err = Compile(s); err == nil {
			return s, nil
		}
	}
	return nil, fmt.Errorf("seccomp profile %s: %w", path, err)
}

// parseProfile decodes a profile and checks what resolve may leave out,
// so that a file is wrong on every host or on none.
func parseProfile(data []byte) (*profile, error) {
	var p profile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, jsonError(data, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("more after the profile's closing brace")
	}
	if p.DefaultAction == "" {
		return nil, errors.New("defaultAction is missing")
	}
	if _, err := action(p.DefaultAction, p.DefaultErrnoRet); err != nil {
		return nil, fmt.Errorf("defaultAction: %w", err)
	}
	if len(p.Architectures) > 0 && len(p.ArchMap) > 0 {
		return nil, errors.New("architectures and archMap: a profile has one or the other")
	}
	for i := range p.Syscalls {
		if err := p.Syscalls[i].check(); err != nil {
			return nil, fmt.Errorf("syscalls[%d]: %w", i, err)
		}
	}
	return &p, nil
}

// check checks a rule, whether it applies here or not, and moves an
// older profile's name into names.
func (r *profileRule) check() error {
	if r.Name != "" {
		if len(r.Names) > 0 {
			return errors.New("name and names: a rule has one or the other")
		}
		r.Names, r.Name = []string{r.Name}, ""
	}
	if _, err := syscallRules(r.LinuxSyscall); err != nil {
		return err
	}
	for _, c := range []struct {
		what string
		cond *condition
	}{{"includes", r.Includes}, {"excludes", r.Excludes}} {
		if c.cond == nil {
			continue
		}
		if _, err := caps.Parse(c.cond.Caps); err != nil {
			return fmt.Errorf("%s.caps: %w", c.what, err)
		}
		if c.cond.MinKernel != "" {
			if _, err := parseKernelVersion(c.cond.MinKernel); err != nil {
				return fmt.Errorf("%s.minKernel: %w", c.what, err)
			}
		}
	}
	return nil
}

// resolve is the spec's linux.seccomp the profile gives a container
// whose bounding set is caps, on a kernel of version kernel: the
// architectures archMap lists for x86_64, and the rules whose conditions
// hold. The result shares nothing with p.
func (p *profile) resolve(caps []string, kernel kernelVersion) *specs.LinuxSeccomp {
	s := p.LinuxSeccomp
	s.DefaultErrnoRet = clonePtr(s.DefaultErrnoRet)
	s.Architectures = slices.Clone(s.Architectures)
	s.Flags = slices.Clone(s.Flags)
	s.Syscalls = nil
	for _, a := range p.ArchMap {
		if a.Arch == specs.ArchX86_64 {
			s.Architectures = append(append(s.Architectures, a.Arch), a.SubArches...)
		}
	}
	for _, r := range p.Syscalls {
		if r.applies(caps, kernel) {
			s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: slices.Clone(r.Names), Action: r.Action,
				ErrnoRet: clonePtr(r.ErrnoRet), Args: slices.Clone(r.Args)})
		}
	}
	return &s
}

// applies says whether a rule is for this container, as Docker decides:
// every part of includes holds (all its capabilities), no part of
// excludes does (any of its capabilities).
func (r *profileRule) applies(caps []string, kernel kernelVersion) bool {
	has := func(c string) bool { return slices.Contains(caps, c) }
	if x := r.Excludes; x != nil {
		if slices.Contains(x.Arches, hostArch) || slices.ContainsFunc(x.Caps, has) ||
			x.MinKernel != "" && kernel.atLeast(x.MinKernel) {
			return false
		}
	}
	if in := r.Includes; in != nil {
		if len(in.Arches) > 0 && !slices.Contains(in.Arches, hostArch) ||
			!all(in.Caps, has) || in.MinKernel != "" && !kernel.atLeast(in.MinKernel) {
			return false
		}
	}
	return true
}

func all[T any](list []T, f func(T) bool) bool {
	return !slices.ContainsFunc(list, func(v T) bool { return !f(v) })
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// kernelVersion is a kernel's version and major revision: 6.1 for
// "6.1.0-18-amd64". Minor revisions and suffixes do not count, as in
// Docker's minKernel.
type kernelVersion struct{ version, major int }

func parseKernelVersion(s string) (kernelVersion, error) {
	var k kernelVersion
	var rest string
	if n, _ := fmt.Sscanf(s, "%d.%d%s", &k.version, &k.major, &rest); n != 2 || k.version < 0 || k.major < 0 {
		return k, fmt.Errorf("%q is not <kernel>.<major>, such as \"4.8\"", s)
	}
	return k, nil
}

// atLeast compares with a minKernel that check accepted.
func (k kernelVersion) atLeast(min string) bool {
	m, _ := parseKernelVersion(min)
	return k.version > m.version || k.version == m.version && k.major >= m.major
}

// runningKernel is this kernel's version; 0.0, older than any minKernel,
// if uname's release does not start with one.
func runningKernel() kernelVersion {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return kernelVersion{}
	}
	var k kernelVersion
	if n, _ := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &k.version, &k.major); n != 2 {
		return kernelVersion{}
	}
	return k
}

// jsonError is a decoding error in a profile's words: where (the line)
// and what (the field, the JSON kind it wants), not Go's types.
func jsonError(data []byte, err error) error {
	line := func(offset int64) int { return 1 + bytes.Count(data[:min(int(offset), len(data))], []byte("\n")) }
	var syntax *json.SyntaxError
	var kind *json.UnmarshalTypeError
	switch {
	case err == io.EOF:
		return errors.New("the file is empty")
	case err == io.ErrUnexpectedEOF:
		return errors.New("the JSON ends too early")
	case errors.As(err, &syntax):
		return fmt.Errorf("line %d: %s", line(syntax.Offset), strings.TrimPrefix(err.Error(), "json: "))
	case errors.As(err, &kind):
		// The path names embedded structs by their Go names, the only
		// capitalized ones: a profile's keys are in camelCase.
		path := slices.DeleteFunc(strings.Split(kind.Field, "."), func(s string) bool {
			return s != "" && unicode.IsUpper(rune(s[0]))
		})
		return fmt.Errorf("line %d: %s: want %s, not %s", line(kind.Offset), strings.Join(path, "."),
			jsonKind(kind.Type), kind.Value)
	}
	return errors.New(strings.TrimPrefix(err.Error(), "json: "))
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return jsonKind(t.Elem())
	case reflect.Slice:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	}
	return "a number"
}
