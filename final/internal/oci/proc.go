package oci

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ProcessStart reads a process's start time (field 22 of /proc/PID/stat),
// which together with the PID names one process for good.
func ProcessStart(pid int) (uint64, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	i := strings.LastIndexByte(string(data), ')')
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 20 {
		return 0, false
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	return start, err == nil
}

// Alive tells whether process pid, started at start, still runs: the same
// process, not a new one that got its PID, and not a zombie.
func Alive(pid int, start uint64) bool {
	if pid == 0 {
		return false
	}
	now, ok := ProcessStart(pid)
	if !ok || now != start {
		return false
	}
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	i := strings.LastIndexByte(string(data), ')')
	return i > 0 && len(data) > i+2 && data[i+2] != 'Z' // a zombie is dead already
}
