package devices

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// cgroup v2 has no devices.allow file: a BPF program of type
// BPF_PROG_TYPE_CGROUP_DEVICE, attached to the cgroup, decides instead.
// The kernel runs it whenever a process in the cgroup (or below) opens or
// mknods a device node, with R1 pointing at
//
//	struct bpf_cgroup_dev_ctx {
//		u32 access_type; // (access << 16) | type
//		u32 major;
//		u32 minor;
//	};
//
// where type is 1 for a block device, 2 for a character device, and
// access is a mask of mknod 1, read 2, write 4. It returns 1 to allow, 0
// to deny (the open or mknod fails with EPERM). For cgroups.DefaultDevices, the
// program that program() writes would be, in C:
//
//	#define TYPE   (ctx->access_type & 0xffff)
//	#define ACCESS (ctx->access_type >> 16)
//	// one test per rule, from the last rule: the last match decides
//	if (TYPE == 2 && ctx->major == 136)                      // c 136:* rwm
//		return 1;
//	if (TYPE == 2 && ctx->major == 5 && ctx->minor == 2)     // c 5:2 rwm
//		return 1;
//	...
//	if (TYPE == 1 && (ACCESS & ~1) == 0)                     // b *:* m
//		return 1;
//	if (TYPE == 2 && (ACCESS & ~1) == 0)                     // c *:* m
//		return 1;
//	return 0;                                                // a (deny all)
//
// A rule matches when the device is of its type and numbers (a missing
// number is "*") and when it covers the access asked for: all of it for
// an allow rule, any of it for a deny rule (so that "deny w" also stops a
// read-write open). With no rule matching, the answer is deny. A rule for
// all devices matches everything, and the rules before it need no code.
//
// Each test reads the field it needs from the context again, rather than
// once into registers at the start: the kernel's verifier walks every
// path through the program, and it stops walking a path when it reaches
// an instruction in a state it has already checked. A register that is
// rewritten before it is read does not count in that comparison, so every
// rule's test is checked about once; with registers loaded once, what the
// earlier tests learnt about them (type is 2, major is not 136) makes the
// states differ. Loading the program is most of what Set costs on v2,
// and this cuts the verifier's work by half (221 instructions walked
// for cgroups.DefaultDevices, down to 116; 0.35 ms down to 0.2 ms on the development
// machine).

// Device types, and registers for the fields.
const (
	bpfDevBlock = 1 // BPF_DEVCG_DEV_BLOCK
	bpfDevChar  = 2 // BPF_DEVCG_DEV_CHAR

	regType   = asm.R2
	regAccess = asm.R3
	regMajor  = asm.R4
	regMinor  = asm.R5
)

// program compiles checked rules into the program above.
func program(rules []specs.LinuxDeviceCgroup) asm.Instructions {
	var insns asm.Instructions
	for i := len(rules) - 1; i >= 0; i-- {
		next := "rule-" + strconv.Itoa(i-1)
		if i == 0 {
			next = "no-match"
		}
		block := ruleBlock(rules[i], next)
		block[0] = block[0].WithSymbol("rule-" + strconv.Itoa(i))
		insns = append(insns, block...)
		if len(block) == 2 { // no test: it matches everything
			return insns
		}
	}
	return append(insns,
		asm.Mov.Imm32(asm.R0, 0).WithSymbol("no-match"),
		asm.Return(),
	)
}

// ruleBlock is one rule: for each way a device can fail to match it, the
// field that tells and a jump to next; then the rule's answer.
func ruleBlock(r specs.LinuxDeviceCgroup, next string) asm.Instructions {
	var block asm.Instructions
	if r.Type == "b" || r.Type == "c" {
		devType := int32(bpfDevChar)
		if r.Type == "b" {
			devType = bpfDevBlock
		}
		block = append(block,
			asm.LoadMem(regType, asm.R1, 0, asm.Word), // access_type
			asm.And.Imm32(regType, 0xffff),
			asm.JNE.Imm32(regType, devType, next),
		)
	}
	if bits := accessBits(r.Access); bits != accessAll {
		block = append(block,
			asm.LoadMem(regAccess, asm.R1, 0, asm.Word), // access_type
			asm.RSh.Imm32(regAccess, 16),
		)
		if r.Allow { // asks for more than the rule allows
			block = append(block, asm.JSet.Imm32(regAccess, accessAll&^bits, next))
		} else { // asks for none of what the rule denies
			block = append(block,
				asm.And.Imm32(regAccess, bits),
				asm.JEq.Imm32(regAccess, 0, next),
			)
		}
	}
	if r.Major != nil {
		block = append(block,
			asm.LoadMem(regMajor, asm.R1, 4, asm.Word), // major
			asm.JNE.Imm32(regMajor, int32(uint32(*r.Major)), next),
		)
	}
	if r.Minor != nil {
		block = append(block,
			asm.LoadMem(regMinor, asm.R1, 8, asm.Word), // minor
			asm.JNE.Imm32(regMinor, int32(uint32(*r.Minor)), next),
		)
	}
	answer := int32(0)
	if r.Allow {
		answer = 1
	}
	return append(block, asm.Mov.Imm32(asm.R0, answer), asm.Return())
}

// load loads the program into the kernel, which checks it.
func load(rules []specs.LinuxDeviceCgroup) (*ebpf.Program, error) {
	prog, err := ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{
		Type:         ebpf.CGroupDevice,
		License:      "Apache-2.0", // it calls no GPL-only helper
		Instructions: program(rules),
	}, ebpf.ProgramOptions{LogDisabled: true})
	if errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		return nil, fmt.Errorf("cgroup v2 device allowlist: the kernel refused a BPF cgroup device program (it needs CONFIG_BPF_SYSCALL and CONFIG_CGROUP_BPF): %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("cgroup v2 device allowlist: load the BPF program: %w", err)
	}
	return prog, nil
}

// attach loads the program and attaches it to the cgroup dir with the
// legacy BPF_PROG_ATTACH, as runc does: the cgroup then holds the program
// until the cgroup itself is freed, long after skiff exits, and there is
// nothing to detach. (A bpf_link would be detached when the last file
// descriptor to it closes, that is when skiff exits.) BPF_F_ALLOW_MULTI
// lets the programs of parent cgroups run too, and all must allow.
func attach(dir string, rules []specs.LinuxDeviceCgroup) error {
	prog, err := load(rules)
	if err != nil {
		return err
	}
	defer prog.Close() // the cgroup holds a reference of its own
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(fd)
	err = link.RawAttachProgram(link.RawAttachProgramOptions{
		Target:  fd,
		Program: prog,
		Attach:  ebpf.AttachCGroupDevice,
		Flags:   unix.BPF_F_ALLOW_MULTI,
	})
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("cgroup v2 device allowlist: the kernel refused to attach a BPF program to %s (it needs CONFIG_CGROUP_BPF): %w", dir, err)
	}
	if err != nil {
		return fmt.Errorf("cgroup v2 device allowlist: attach the BPF program to %s: %w", dir, err)
	}
	return nil
}
