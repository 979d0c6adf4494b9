package seccomp

import (
	"errors"
	"fmt"
	"slices"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// archs are the architectures a profile may list and their tables.
var archs = map[specs.Arch]*table{specs.ArchX86_64: tableX86_64, specs.ArchX86: tableI386, specs.ArchX32: tableX32}

// foreign are the spec's other architectures: accepted and left out, as
// an x86_64 kernel never runs their calls.
var foreign = []specs.Arch{specs.ArchARM, specs.ArchAARCH64, specs.ArchMIPS, specs.ArchMIPS64, specs.ArchMIPS64N32,
	specs.ArchMIPSEL, specs.ArchMIPSEL64, specs.ArchMIPSEL64N32, specs.ArchPPC, specs.ArchPPC64, specs.ArchPPC64LE,
	specs.ArchS390, specs.ArchS390X, specs.ArchPARISC, specs.ArchPARISC64, specs.ArchRISCV64, specs.ArchLOONGARCH64,
	specs.ArchM68K, specs.ArchSH, specs.ArchSHEB}

const (
	x32Bit = 0x40000000 // __X32_SYSCALL_BIT: an x32 call, reported as AUDIT_ARCH_X86_64
	// badArch is the action for a call of an architecture the profile
	// does not list.
	badArch = unix.SECCOMP_RET_KILL_PROCESS
	// maxInsns is the kernel's BPF_MAXINSNS.
	maxInsns = 4096
	// seccomp_data: nr at 0, arch at 4, args[6] (u64, little-endian) at 16.
	offNr, offArch, offArgs = 0, 4, 16
)

// conditionCode is how many instructions each operator compiles to.
var conditionCode = map[specs.LinuxSeccompOperator]int{
	specs.OpEqualTo: 4, specs.OpNotEqual: 4, specs.OpGreaterThan: 5, specs.OpGreaterEqual: 5,
	specs.OpLessThan: 5, specs.OpLessEqual: 5, specs.OpMaskedEqual: 6,
}

// rule is one way a call matches: all its conditions hold.
type rule struct {
	conds []specs.LinuxSeccompArg
	ret   uint32
}

// call is what the profile says of one syscall number: rules with
// conditions, tried in order, then the action of a rule without any
// (or the default action).
type call struct {
	listed   bool // the profile has rules for it
	rules    []rule
	fallback uint32
}

func compile(s *specs.LinuxSeccomp) ([]unix.SockFilter, error) {
	def, err := action(s.DefaultAction, s.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("defaultAction: %w", err)
	}
	tables, err := architectures(s.Architectures)
	if err != nil {
		return nil, err
	}
	// Calls by audit architecture: x86_64 and x32 share one, told apart
	// by x32Bit in the number.
	calls := map[uint32]*callTable{}
	for _, t := range tables {
		if calls[t.audit] == nil {
			calls[t.audit] = new(callTable)
		}
	}
	// last is the highest number the profile names in each table, in any
	// rule, even one with the default action; -1 if none.
	last := map[*table]int{tableX86_64: -1, tableI386: -1, tableX32: -1}
	for i, sc := range s.Syscalls {
		rules, err := syscallRules(sc)
		if err != nil {
			return nil, fmt.Errorf("syscalls[%d]: %w", i, err)
		}
		for _, t := range tables {
			for _, name := range sc.Names {
				if nr, ok := t.lookup(name); ok {
					calls[t.audit].add(uint32(nr|t.mask), rules, def)
					last[t] = max(last[t], nr)
				}
			}
		}
	}
	x32 := slices.Contains(tables, tableX32)
	unknown := unknownCalls(def)
	var sections [][]unix.SockFilter
	var audits []uint32
	for _, t := range tables {
		id := t.audit
		if slices.Contains(audits, id) {
			continue // x32, in x86_64's section
		}
		var base []interval
		if id == unix.AUDIT_ARCH_X86_64 {
			base = numberRanges(def, unknown, last[tableX86_64], 0)
			if x32 {
				base = append(base, numberRanges(def, unknown, last[tableX32], x32Bit)...)
			} else {
				base = append(base, interval{lo: x32Bit, ret: badArch})
			}
		} else {
			base = numberRanges(def, unknown, last[t], 0)
		}
		// nr -1 is a call a tracer skipped: no x32 call, no unknown one.
		base = append(base, interval{lo: 0xffffffff, ret: def})
		audits = append(audits, id)
		wide := id == unix.AUDIT_ARCH_X86_64
		sections = append(sections, search([]unix.SockFilter{load(offNr)}, intervals(base, calls[id], wide)))
	}
	prog := dispatch(audits, sections)
	if len(prog) > maxInsns {
		return nil, fmt.Errorf("the profile compiles to %d instructions, over the kernel's limit of %d", len(prog), maxInsns)
	}
	return prog, nil
}

// unknownCalls is what a call newer than the profile returns: ENOSYS,
// as runc does, when the default action denies. A libc newer than the
// profile tries a new call first (clone3, faccessat2 and statx were new
// once) and falls back to the old one on ENOSYS, "the kernel does not
// have it"; EPERM, "you may not", is an answer it passes on, and the
// program fails where it would work on an older kernel. A call is newer
// than the profile when its number is above the highest one the profile
// names for the architecture, in any rule, even one with the default
// action (runc's rule: numbers are given in order, though not always;
// close_range came out of order). The calls the profile does not name
// below that number keep the default action. A permissive default
// (allow, log, trace) lets new calls through anyway: no ENOSYS.
func unknownCalls(def uint32) uint32 {
	switch def & unix.SECCOMP_RET_ACTION_FULL {
	case unix.SECCOMP_RET_ALLOW, unix.SECCOMP_RET_LOG, unix.SECCOMP_RET_TRACE:
		return def
	}
	return unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
}

// numberRanges are the base intervals of a table whose numbers start at
// first: the default action up to the last call the profile names, then
// unknown. x32's end below nr -1, which compile adds. A profile that
// names no call of a table (last -1) leaves it without ENOSYS, as runc
// does.
func numberRanges(def, unknown uint32, last int, first uint32) []interval {
	ranges := []interval{{lo: first, ret: def}}
	if last >= 0 && unknown != def {
		ranges = append(ranges, interval{lo: first | uint32(last+1), ret: unknown})
	}
	return ranges
}

// architectures are the tables of the listed architectures, x86_64 first
// and always.
func architectures(list []specs.Arch) ([]*table, error) {
	tables := []*table{tableX86_64}
	for _, name := range list {
		t, ok := archs[name]
		switch {
		case ok && !slices.Contains(tables, t):
			tables = append(tables, t)
		case !ok && !slices.Contains(foreign, name):
			return nil, fmt.Errorf("unknown architecture %q", name)
		}
	}
	return tables, nil
}

// syscallRules checks one entry of syscalls and makes its rules. As
// runc does, conditions on distinct arguments make one rule (ANDed), and
// several conditions on one argument make one rule each (ORed).
func syscallRules(sc specs.LinuxSyscall) ([]rule, error) {
	if len(sc.Names) == 0 {
		return nil, errors.New("names is empty")
	}
	ret, err := action(sc.Action, sc.ErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sc.Names[0], err)
	}
	seen := map[uint]bool{}
	repeated := false
	for _, c := range sc.Args {
		if c.Index > 5 {
			return nil, fmt.Errorf("%s: argument index %d: a syscall has 6 (0 to 5)", sc.Names[0], c.Index)
		}
		if _, ok := conditionCode[c.Op]; !ok {
			return nil, fmt.Errorf("%s: unknown operator %q", sc.Names[0], c.Op)
		}
		repeated = repeated || seen[c.Index]
		seen[c.Index] = true
	}
	if !repeated {
		return []rule{{conds: sc.Args, ret: ret}}, nil
	}
	rules := make([]rule, len(sc.Args))
	for i, c := range sc.Args {
		rules[i] = rule{conds: []specs.LinuxSeccompArg{c}, ret: ret}
	}
	return rules, nil
}

// callTable holds an audit architecture's calls by number: x86_64's
// (or i386's) from 0, x32's (x32Bit set) from 1024. The kernel's tables
// end far below 1024.
type callTable [2048]call

func slot(nr uint32) (int, bool) {
	i := int(nr &^ x32Bit)
	if nr&x32Bit != 0 {
		i += 1024
	}
	return i, nr&^x32Bit < 1024
}

func number(slot int) uint32 {
	if slot >= 1024 {
		return x32Bit | uint32(slot-1024)
	}
	return uint32(slot)
}

// add records rules for call nr. A rule with the default action is
// dropped, as runc does; the first rule without conditions sets the
// call's fallback.
func (calls *callTable) add(nr uint32, rules []rule, def uint32) {
	i, ok := slot(nr)
	for _, r := range rules {
		if r.ret == def || !ok {
			continue
		}
		c := &calls[i]
		if !c.listed {
			*c = call{listed: true, fallback: def}
		}
		switch {
		case len(r.conds) > 0:
			c.rules = append(c.rules, r)
		case c.fallback == def:
			c.fallback = r.ret
		}
	}
}

// interval is the calls from lo up to the next interval's lo: a return,
// or, for one call with conditions, its code.
type interval struct {
	lo   uint32
	ret  uint32
	code []unix.SockFilter
}

func (iv interval) size() int {
	if iv.code != nil {
		return len(iv.code)
	}
	return 1
}

// intervals cuts the numbers 0 to 2^32-1 into intervals: base's, with
// the calls on top. Neighbours that return the same merge, so the big
// allow lists of real profiles make few intervals.
func intervals(base []interval, calls *callTable, wide bool) []interval {
	var out []interval
	push := func(iv interval) {
		if n := len(out); n > 0 && iv.code == nil && out[n-1].code == nil && out[n-1].ret == iv.ret {
			return
		}
		out = append(out, iv)
	}
	// gap pushes base's intervals over the numbers from a to b-1.
	gap := func(a, b uint64) {
		for i, iv := range base {
			end := uint64(1) << 32
			if i+1 < len(base) {
				end = uint64(base[i+1].lo)
			}
			if a < b && uint64(iv.lo) < b && end > a {
				push(interval{lo: uint32(max(a, uint64(iv.lo))), ret: iv.ret})
			}
		}
	}
	next := uint64(0)
	for i := range calls {
		c := &calls[i]
		if !c.listed {
			continue
		}
		nr := number(i)
		gap(next, uint64(nr))
		if len(c.rules) == 0 {
			push(interval{lo: nr, ret: c.fallback})
		} else {
			push(interval{lo: nr, code: c.code(wide)})
		}
		next = uint64(nr) + 1
	}
	gap(next, 1<<32)
	return out
}

// search appends a binary search over the intervals, with the call's
// number in the accumulator: a few comparisons per call even for a
// profile of hundreds of syscalls.
func search(prog []unix.SockFilter, ivs []interval) []unix.SockFilter {
	if len(ivs) == 1 {
		if ivs[0].code != nil {
			return append(prog, ivs[0].code...)
		}
		return append(prog, ret(ivs[0].ret))
	}
	mid := len(ivs) / 2
	if left := searchSize(ivs[:mid]); left <= 255 {
		prog = append(prog, jump(unix.BPF_JGE, ivs[mid].lo, uint8(left), 0))
	} else { // too far for a conditional jump
		prog = append(prog, jump(unix.BPF_JGE, ivs[mid].lo, 0, 1), ja(left))
	}
	return search(search(prog, ivs[:mid]), ivs[mid:])
}

// searchSize is the length of search's code.
func searchSize(ivs []interval) int {
	if len(ivs) == 1 {
		return ivs[0].size()
	}
	mid := len(ivs) / 2
	left := searchSize(ivs[:mid])
	if left <= 255 {
		return 1 + left + searchSize(ivs[mid:])
	}
	return 2 + left + searchSize(ivs[mid:])
}

// dispatch loads the call's architecture and jumps to its section;
// other architectures get badArch.
func dispatch(audits []uint32, sections [][]unix.SockFilter) []unix.SockFilter {
	size := 1 + 2*len(audits) + 1
	for _, s := range sections {
		size += len(s)
	}
	prog := append(make([]unix.SockFilter, 0, size), load(offArch))
	start := 1 + 2*len(audits) + 1 // where the first section begins
	for i, id := range audits {
		// A skip counts from the instruction after the jump.
		prog = append(prog, jump(unix.BPF_JEQ, id, 0, 1), ja(start-len(prog)-2))
		start += len(sections[i])
	}
	prog = append(prog, ret(badArch))
	for _, s := range sections {
		prog = append(prog, s...)
	}
	return prog
}

// code is a call's rules, each falling through to the next when it does
// not match, then the fallback. Arguments are wide (64-bit) on x86_64.
func (c *call) code(wide bool) []unix.SockFilter {
	var code []unix.SockFilter
	for _, r := range c.rules {
		code = r.appendCode(code, wide)
	}
	return append(code, ret(c.fallback))
}

// appendCode appends the rule's conditions, each jumping past the rule's
// return when it does not hold, and the return.
func (r rule) appendCode(code []unix.SockFilter, wide bool) []unix.SockFilter {
	rest := 1 // the return
	for _, c := range r.conds {
		rest += conditionCode[c.Op]
	}
	for _, c := range r.conds {
		rest -= conditionCode[c.Op]
		code = appendCondition(code, c, wide, rest)
	}
	return append(code, ret(r.ret))
}

// appendCondition compares a 64-bit argument, high word first: the code
// falls through when the condition holds and jumps fail instructions past
// its end when it does not. The argument of a 32-bit call (i386) has a
// high word of 0, whatever the register's upper half holds (a 32-bit
// process can set it from a 64-bit code segment): the kernel ignores it,
// so must the filter, as libseccomp does.
func appendCondition(code []unix.SockFilter, c specs.LinuxSeccompArg, wide bool, fail int) []unix.SockFilter {
	n := conditionCode[c.Op]
	toFail := func(at int) uint8 { return uint8(n - 1 - at + fail) }
	toPass := func(at int) uint8 { return uint8(n - 1 - at) }
	hi, lo := load(offArgs+8*uint32(c.Index)+4), load(offArgs+8*uint32(c.Index))
	if !wide {
		hi = unix.SockFilter{Code: unix.BPF_LD | unix.BPF_IMM, K: 0}
	}
	vhi, vlo := uint32(c.Value>>32), uint32(c.Value)
	const eq, gt, ge = unix.BPF_JEQ, unix.BPF_JGT, unix.BPF_JGE
	switch c.Op {
	case specs.OpEqualTo:
		return append(code, hi, jump(eq, vhi, 0, toFail(1)), lo, jump(eq, vlo, 0, toFail(3)))
	case specs.OpNotEqual:
		return append(code, hi, jump(eq, vhi, 0, toPass(1)), lo, jump(eq, vlo, toFail(3), 0))
	case specs.OpGreaterThan, specs.OpGreaterEqual:
		last := uint16(ge)
		if c.Op == specs.OpGreaterThan {
			last = gt
		}
		return append(code, hi, jump(gt, vhi, toPass(1), 0), jump(eq, vhi, 0, toFail(2)), lo, jump(last, vlo, 0, toFail(4)))
	case specs.OpLessThan, specs.OpLessEqual: // not (greater or equal), not (greater)
		last := uint16(gt)
		if c.Op == specs.OpLessThan {
			last = ge
		}
		return append(code, hi, jump(ge, vhi, 0, toPass(1)), jump(eq, vhi, 0, toFail(2)), lo, jump(last, vlo, toFail(4), 0))
	default: // SCMP_CMP_MASKED_EQ: (arg & value) == valueTwo
		mhi, mlo := uint32(c.ValueTwo>>32), uint32(c.ValueTwo)
		return append(code, hi, and(vhi), jump(eq, mhi, 0, toFail(2)), lo, and(vlo), jump(eq, mlo, 0, toFail(5)))
	}
}

// The instructions the filter uses.
func load(off uint32) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: off}
}
func jump(op uint16, k uint32, jt, jf uint8) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_JMP | op | unix.BPF_K, Jt: jt, Jf: jf, K: k}
}
func ja(skip int) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JA, K: uint32(skip)}
}
func and(k uint32) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, K: k}
}
func ret(k uint32) unix.SockFilter { return unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: k} }
