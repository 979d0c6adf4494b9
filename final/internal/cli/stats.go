package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v3"
	"golang.org/x/term"

	"skiff/internal/cgroups"
	"skiff/internal/container"
)

func statsCommand() *cli.Command {
	return &cli.Command{
		Name: "stats",
		Usage: "show containers' CPU, memory, network, block I/O and process counts, read from their cgroups " +
			"and network namespaces, every second until Ctrl-C (all running containers without a NAME)",
		ArgsUsage:              "[NAME...]",
		UseShortOptionHandling: true,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "no-stream", Usage: "print one table and exit"},
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "show stopped containers too"},
			&cli.BoolFlag{Name: "no-trunc", Usage: "print whole container IDs"},
			&cli.StringFlag{Name: "format", Usage: "print each container through a Go `TEMPLATE` (Docker's fields: .Container .ID .Name .CPUPerc .MemUsage .MemPerc .NetIO .BlockIO .PIDs); \"table TEMPLATE\" adds a header"},
		},
		Action: command(statsAction),
	}
}

// statsInterval is the time between two samples: CPU % is the CPU time
// a container used in it, as a share of one CPU's.
const statsInterval = time.Second

func statsAction(ctx context.Context, cmd *cli.Command, e *env) error {
	format := cmd.String("format")
	if format == "" {
		format = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"
	}
	f, err := newFormatter(format)
	if err != nil {
		return err
	}
	// Named containers must exist; without names, the list is read anew
	// each time, so that new containers show up.
	for _, name := range cmd.Args().Slice() {
		if _, err := e.containers.Get(name); err != nil {
			return err
		}
	}
	clear := !cmd.Bool("no-stream") && term.IsTerminal(int(os.Stdout.Fd()))
	before := byID(e.sampleStats(cmd))
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(statsInterval):
		}
		now := e.sampleStats(cmd)
		var rows []any
		for _, s := range now {
			rows = append(rows, s.row(before[s.id], cmd.Bool("no-trunc")))
		}
		if clear {
			fmt.Print("\033[2J\033[H") // Docker's redraw: clear the screen, cursor home
		}
		if err := f.print(os.Stdout, statsHeader, rows); err != nil {
			return err
		}
		if cmd.Bool("no-stream") {
			return nil
		}
		before = byID(now)
	}
}

func byID(samples []statsSample) map[string]statsSample {
	m := map[string]statsSample{}
	for _, s := range samples {
		m[s.id] = s
	}
	return m
}

// statsSample is what a container used up to a moment.
type statsSample struct {
	id, name string
	at       time.Time
	running  bool
	cgroups.Stats
	netRx, netTx uint64
	hasNet       bool
}

// sampleStats reads the usage of the containers named, or of all the
// running ones (all of them with --all), in the order ps lists them.
func (e *env) sampleStats(cmd *cli.Command) (samples []statsSample) {
	var list []*container.Container
	if cmd.Args().Len() > 0 {
		for _, name := range cmd.Args().Slice() {
			if c, err := e.containers.Get(name); err == nil {
				list = append(list, c)
			}
		}
	} else {
		all, _ := e.containers.List()
		for _, c := range all {
			if cmd.Bool("all") || c.Status() == container.Running {
				list = append(list, c)
			}
		}
	}
	for _, c := range list {
		s := statsSample{id: c.Config.ID, name: c.Name(), at: time.Now(), running: c.Status() == container.Running}
		if s.running {
			s.Stats, _ = cgroups.Open(e.runtime.CgroupParent, c.Config.ID).Stats()
			if c.Config.Network.Mode.OwnNamespace() {
				s.netRx, s.netTx, s.hasNet = netCounters(c.State.Pid)
			}
		}
		samples = append(samples, s)
	}
	return samples
}

// netCounters sums the bytes received and sent on the links of a
// process's network namespace but lo, from its /proc/PID/net/dev.
func netCounters(pid int) (rx, tx uint64, ok bool) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/dev", pid))
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	return parseNetDev(f)
}

// parseNetDev reads /proc/net/dev: two header lines, then "IFACE:" and
// 16 counters, received bytes first and sent bytes ninth.
func parseNetDev(r io.Reader) (rx, tx uint64, ok bool) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, counters, found := strings.Cut(sc.Text(), ":")
		f := strings.Fields(counters)
		if !found || len(f) < 9 || strings.TrimSpace(name) == "lo" {
			continue
		}
		r, err1 := strconv.ParseUint(f[0], 10, 64)
		t, err2 := strconv.ParseUint(f[8], 10, 64)
		if err1 == nil && err2 == nil {
			rx, tx, ok = rx+r, tx+t, true
		}
	}
	return rx, tx, ok
}

// statsRow is one container as stats prints it, with Docker's field
// names, so that --format templates from Docker work.
type statsRow struct {
	Container, ID, Name, CPUPerc, MemUsage, MemPerc, NetIO, BlockIO, PIDs string
}

var statsHeader = statsRow{Container: "CONTAINER", ID: "CONTAINER ID", Name: "NAME", CPUPerc: "CPU %",
	MemUsage: "MEM USAGE / LIMIT", MemPerc: "MEM %", NetIO: "NET I/O", BlockIO: "BLOCK I/O", PIDs: "PIDS"}

// row is the sample as printed, with the CPU share since before (a
// sample of the same container, if there is one). A container without
// a limit is limited by the host's memory, which MEM % is then of.
func (s statsSample) row(before statsSample, noTrunc bool) statsRow {
	id := s.id
	if !noTrunc {
		id = id[:min(12, len(id))]
	}
	r := statsRow{Container: id, ID: id, Name: s.name, CPUPerc: "--", MemUsage: "-- / --", MemPerc: "--",
		NetIO: "-- / --", BlockIO: "-- / --", PIDs: "--"}
	if !s.running {
		return r
	}
	if wall := s.at.Sub(before.at); before.id != "" && wall > 0 && s.CPUUsec >= before.CPUUsec {
		r.CPUPerc = fmt.Sprintf("%.2f%%", float64(s.CPUUsec-before.CPUUsec)/float64(wall.Microseconds())*100)
	}
	limit := s.MemoryLimit
	if limit == 0 {
		limit = hostMemory()
	}
	r.MemUsage = humanSize(int64(s.MemoryUsage)) + " / " + humanSize(int64(limit))
	if limit > 0 {
		r.MemPerc = fmt.Sprintf("%.2f%%", float64(s.MemoryUsage)/float64(limit)*100)
	}
	if s.hasNet {
		r.NetIO = humanSize(int64(s.netRx)) + " / " + humanSize(int64(s.netTx))
	}
	if s.HasBlockIO {
		r.BlockIO = humanSize(int64(s.BlockRead)) + " / " + humanSize(int64(s.BlockWrite))
	}
	r.PIDs = strconv.FormatUint(s.Pids, 10)
	return r
}

// hostMemory is the host's memory in bytes, from /proc/meminfo.
func hostMemory() uint64 {
	data, _ := os.ReadFile("/proc/meminfo")
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}
