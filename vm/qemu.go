package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const qemuBinary = "qemu-system-x86_64"

// exitMarker is the line the guest's /init prints last, with the status of
// the demo, tests or shell.
var exitMarker = regexp.MustCompile(`^skiff-vm-exit-status: (\d+)`)

// kvmWorks reports whether QEMU can use KVM here. /dev/kvm existing is not
// enough: on nested "PVM" hosts it exists but the CPU has no vmx/svm flag,
// and guests hang or die with emulation failures.
func kvmWorks() bool {
	if unix.Access("/dev/kvm", unix.R_OK|unix.W_OK) != nil {
		return false
	}
	cpuinfo, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return false
	}
	flags := regexp.MustCompile(`(?m)^flags\s*:.*\b(vmx|svm)\b`)
	return flags.Match(cpuinfo)
}

func qemuArgs(vmlinux, initrd, accel string, interactive bool) []string {
	if accel == "auto" || accel == "" {
		accel = "tcg"
		if kvmWorks() {
			accel = "kvm"
		}
	}
	args := []string{"-accel", "tcg"}
	if accel == "kvm" {
		args = []string{"-accel", "kvm", "-cpu", "host"}
	}
	serial := []string{"-serial", "stdio"}
	if interactive {
		// signal=off: Ctrl-C goes to the guest's shell, not to QEMU.
		serial = []string{"-chardev", "stdio,id=con,signal=off", "-serial", "chardev:con"}
	}
	args = append(args,
		"-M", "pc", "-m", "1024", "-smp", "1",
		"-nodefaults", "-no-user-config", "-no-reboot", "-display", "none",
		"-nic", "none",
		"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
		"-kernel", vmlinux, "-initrd", initrd,
		"-append", "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init")
	return append(args, serial...)
}

// boot runs QEMU until the guest powers off or the timeout passes, and
// returns the guest's exit status. In interactive mode the console is the
// terminal; otherwise the console is copied to out line by line.
func boot(vmlinux, initrd, accel string, interactive bool, timeout time.Duration, out io.Writer) (int, error) {
	if _, err := exec.LookPath(qemuBinary); err != nil {
		return 0, fmt.Errorf("%s not found: install it with 'sudo apt-get install qemu-system-x86' (make does this when run as root)", qemuBinary)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemuBinary, qemuArgs(vmlinux, initrd, accel, interactive)...)
	cmd.Stderr = os.Stderr
	if interactive {
		cmd.Stdin, cmd.Stdout = os.Stdin, os.Stdout
		err := cmd.Run()
		return qemuStatus(ctx, err, -1)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting %s: %w", qemuBinary, err)
	}
	marker := copyConsole(stdout, out)
	return qemuStatus(ctx, cmd.Wait(), marker)
}

// copyConsole copies the serial console to out without the carriage
// returns the tty adds, and returns the status from the exit marker line
// (-1 if there was none).
func copyConsole(console io.Reader, out io.Writer) int {
	status := -1
	sc := bufio.NewScanner(console)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if m := exitMarker.FindStringSubmatch(line); m != nil {
			status, _ = strconv.Atoi(m[1])
			continue
		}
		fmt.Fprintln(out, line)
	}
	return status
}

// qemuStatus turns QEMU's own result into the guest's exit status. The
// marker line is exact; isa-debug-exit makes QEMU exit with (status<<1)|1,
// which carries statuses up to 127.
func qemuStatus(ctx context.Context, err error, marker int) (int, error) {
	if ctx.Err() == context.DeadlineExceeded {
		return 0, errors.New("the VM did not power off before the timeout; it was killed")
	}
	if marker >= 0 {
		return marker, nil
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && exitErr.ExitCode()%2 == 1 {
		return exitErr.ExitCode() >> 1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", qemuBinary, err)
	}
	return 0, errors.New("the VM stopped without reporting a status (a kernel panic? see the console output above)")
}
