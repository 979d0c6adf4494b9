package seccomp

import (
	"sort"

	"golang.org/x/sys/unix"
)

// table is one architecture's system calls by name, sorted (tables.go,
// generated from go-seccomp-bpf's tables by TestTablesAreCurrent with
// -update). A sorted array literal is static data: the tables cost no
// time at start-up, where building go-seccomp-bpf's maps costs 0.2 ms in
// every process that links them, skiff-init included.
type table struct {
	audit uint32 // the audit architecture in seccomp_data.arch
	mask  int    // x32's calls carry __X32_SYSCALL_BIT
	calls []syscallNumber
}

type syscallNumber struct {
	name string
	nr   int
}

var (
	tableX86_64 = &table{audit: unix.AUDIT_ARCH_X86_64, calls: x86_64Calls}
	tableI386   = &table{audit: unix.AUDIT_ARCH_I386, calls: i386Calls}
	tableX32    = &table{audit: unix.AUDIT_ARCH_X86_64, mask: x32Bit, calls: x32Calls}
)

// lookup finds a call's number.
func (t *table) lookup(name string) (int, bool) {
	i := sort.Search(len(t.calls), func(i int) bool { return t.calls[i].name >= name })
	if i < len(t.calls) && t.calls[i].name == name {
		return t.calls[i].nr, true
	}
	return 0, false
}
