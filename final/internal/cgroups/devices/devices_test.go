package devices

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/opencontainers/runtime-spec/specs-go"

	"skiff/internal/cgroups"
)

func num(n int64) *int64 { return &n }

var (
	denyAll  = specs.LinuxDeviceCgroup{Allow: false, Access: "rwm"}
	allowAll = specs.LinuxDeviceCgroup{Allow: true, Type: "a"}
	null     = specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: num(1), Minor: num(3), Access: "rwm"}
	nullNoW  = specs.LinuxDeviceCgroup{Allow: false, Type: "c", Major: num(1), Minor: num(3), Access: "w"}
)

// access is what one open or mknod asks for.
type access struct {
	typ, access, major, minor uint32
}

var (
	mknod = uint32(accessMknod)
	read  = uint32(accessRead)
	rw    = uint32(accessRead | accessWrite)
	write = uint32(accessWrite)
)

func TestDeviceFilterDecides(t *testing.T) {
	tests := []struct {
		name  string
		rules []specs.LinuxDeviceCgroup
		allow []access
		deny  []access
	}{
		{"docker's", cgroups.DefaultDevices,
			[]access{{bpfDevChar, rw, 1, 3}, {bpfDevChar, read, 1, 9}, {bpfDevChar, rw, 5, 2}, {bpfDevChar, rw, 136, 7},
				{bpfDevChar, mknod, 1, 11}, {bpfDevBlock, mknod, 8, 0}, {bpfDevChar, rw, 5, 0}, {bpfDevChar, rw, 5, 1}},
			[]access{{bpfDevChar, read, 1, 11}, {bpfDevChar, write, 1, 11}, {bpfDevBlock, read, 8, 0}, {bpfDevBlock, rw, 1, 3},
				{bpfDevChar, mknod | read, 1, 11}, {bpfDevChar, rw, 5, 3}, {bpfDevChar, rw, 10, 200}, {bpfDevChar, read, 137, 0}},
		},
		{"none", nil, nil, []access{{bpfDevChar, read, 1, 3}, {bpfDevChar, mknod, 1, 3}}},
		{"a partial deny after an allow", []specs.LinuxDeviceCgroup{denyAll, null, nullNoW},
			[]access{{bpfDevChar, read, 1, 3}, {bpfDevChar, mknod, 1, 3}},
			[]access{{bpfDevChar, rw, 1, 3}, {bpfDevChar, write, 1, 3}, {bpfDevChar, read, 1, 5}},
		},
		{"all allowed last", []specs.LinuxDeviceCgroup{denyAll, nullNoW, allowAll},
			[]access{{bpfDevChar, write, 1, 3}, {bpfDevBlock, rw, 8, 0}}, nil,
		},
	}
	for _, tt := range tests {
		program := program(tt.rules)
		for _, a := range tt.allow {
			if got := interpret(t, program, a); got != 1 {
				t.Errorf("%s: %+v: denied, want allowed\n%v", tt.name, a, program)
			}
		}
		for _, a := range tt.deny {
			if got := interpret(t, program, a); got != 0 {
				t.Errorf("%s: %+v: allowed, want denied\n%v", tt.name, a, program)
			}
		}
	}
}

// interpret runs the few instructions deviceFilter writes, as the kernel
// would on a device access.
func interpret(t *testing.T, program asm.Instructions, a access) uint32 {
	t.Helper()
	labels, err := program.SymbolOffsets()
	if err != nil {
		t.Fatal(err)
	}
	ctx := []uint32{a.access<<16 | a.typ, a.major, a.minor}
	var reg [11]uint32
	for pc := 0; pc < len(program); pc++ {
		ins := program[pc]
		op, imm := ins.OpCode, uint32(ins.Constant)
		switch {
		case op == asm.LoadMemOp(asm.Word) && ins.Src == asm.R1:
			reg[ins.Dst] = ctx[ins.Offset/4]
		case op == asm.Mov.Op32(asm.RegSource):
			reg[ins.Dst] = reg[ins.Src]
		case op == asm.Mov.Op32(asm.ImmSource):
			reg[ins.Dst] = imm
		case op == asm.And.Op32(asm.ImmSource):
			reg[ins.Dst] &= imm
		case op == asm.RSh.Op32(asm.ImmSource):
			reg[ins.Dst] >>= imm
		case op.Class() == asm.Jump32Class && op.Source() == asm.ImmSource:
			jump := map[asm.JumpOp]bool{
				asm.JNE: reg[ins.Dst] != imm, asm.JEq: reg[ins.Dst] == imm, asm.JSet: reg[ins.Dst]&imm != 0,
			}
			taken, known := jump[op.JumpOp()]
			if !known {
				t.Fatalf("instruction %d: %v: not interpreted", pc, ins)
			}
			if taken {
				pc = labels[ins.Reference()] - 1
			}
		case op == asm.Return().OpCode:
			return reg[asm.R0]
		default:
			t.Fatalf("instruction %d: %v: not interpreted", pc, ins)
		}
	}
	t.Fatal("the program does not end with exit")
	return 0
}

func TestDeviceLinesAreDockers(t *testing.T) {
	var lines []string
	for _, r := range cgroups.DefaultDevices {
		lines = append(lines, line(r))
	}
	want := "a,c *:* m,b *:* m,c 1:3 rwm,c 1:5 rwm,c 1:7 rwm,c 1:8 rwm,c 1:9 rwm,c 5:0 rwm,c 5:1 rwm,c 5:2 rwm,c 136:* rwm"
	if got := strings.Join(lines, ","); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestCheckDevicesRefuses(t *testing.T) {
	if err := check(cgroups.DefaultDevices); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []specs.LinuxDeviceCgroup{
		{Allow: true, Type: "p", Access: "rwm"},
		{Allow: true, Type: "c", Access: "rwx"},
		{Allow: true, Type: "c", Major: num(-1), Access: "r"},
		{Allow: true, Type: "c", Major: num(1), Minor: num(1 << 32), Access: "r"},
		{Allow: true, Type: "a", Major: num(1), Access: "rwm"},
		{Allow: false, Access: "w"},
	} {
		err := check([]specs.LinuxDeviceCgroup{bad})
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: error %v, want one line", bad, err)
		}
	}
}

// TestDeviceFilterLoads: the kernel's verifier accepts the programs (it
// refuses, for one, code that cannot be reached).
func TestDeviceFilterLoads(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("loading a BPF program takes root")
	}
	for _, rules := range [][]specs.LinuxDeviceCgroup{cgroups.DefaultDevices, nil, {denyAll, nullNoW, allowAll}, {null, nullNoW}} {
		prog, err := load(rules)
		if errors.Is(err, ebpf.ErrNotSupported) {
			t.Skip(err)
		}
		if err != nil {
			t.Fatalf("%v: %v", rules, err)
		}
		prog.Close()
	}
}

// BenchmarkDeviceFilter is the cost of SetDevices on v2 before the attach:
// build the program and load it.
func BenchmarkDeviceFilter(b *testing.B) {
	if os.Getuid() != 0 {
		b.Skip("loading a BPF program takes root")
	}
	for b.Loop() {
		prog, err := load(cgroups.DefaultDevices)
		if err != nil {
			b.Fatal(err)
		}
		prog.Close()
	}
}
