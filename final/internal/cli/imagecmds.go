package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v3"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"skiff/internal/container"
	"skiff/internal/image"
	"skiff/internal/rootfs"
)

// The image commands Docker users type every day, with Docker's flags
// and output: tag, save, load, export, history.

func tagCommand() *cli.Command {
	return &cli.Command{
		Name:      "tag",
		Usage:     "give an image another name: TARGET names the same image as SOURCE (a name or an ID)",
		ArgsUsage: "SOURCE TARGET",
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			if cmd.Args().Len() != 2 {
				return errors.New("usage: skiff tag SOURCE TARGET")
			}
			if _, err := e.images.Tag(cmd.Args().Get(0), cmd.Args().Get(1)); err != nil {
				return err
			}
			_, err := e.removeUnusedLayers() // those of the image that had the name TARGET
			return err
		}),
	}
}

// outputFlag is save's and export's -o; a flag of its own for each, since
// a flag keeps the value it parsed.
func outputFlag() cli.Flag {
	return &cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to `FILE` instead of stdout (which must not be a terminal)"}
}

func saveCommand() *cli.Command {
	return &cli.Command{
		Name:      "save",
		Usage:     "write images to a tar, in the format docker save writes and docker load reads (an OCI image layout with Docker's manifest.json)",
		ArgsUsage: "IMAGE...",
		Flags:     []cli.Flag{outputFlag()},
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			if err := needArgs(cmd, 1, "[-o FILE] IMAGE..."); err != nil {
				return err
			}
			for _, ref := range cmd.Args().Slice() { // before any output
				if _, err := e.images.Get(ref); err != nil {
					return err
				}
			}
			return writeOutput(cmd.String("output"), func(w io.Writer) error {
				return e.images.Save(w, cmd.Args().Slice())
			})
		}),
	}
}

func loadCommand() *cli.Command {
	return &cli.Command{
		Name: "load",
		Usage: "add the images of a tar that docker save or skiff save wrote (plain or gzip), or of an OCI image layout tar; " +
			"every digest it gives is checked before any image is added",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Usage: "read the tar from `FILE` instead of stdin"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress (skiff shows none)"},
		},
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			if cmd.Args().Len() > 0 {
				return errors.New("usage: skiff load [-i FILE]: the tar comes from -i or stdin")
			}
			in := os.Stdin
			if file := cmd.String("input"); file != "" {
				f, err := os.Open(file)
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			} else if term.IsTerminal(int(os.Stdin.Fd())) {
				return errors.New("requested load from stdin, but stdin is a terminal: use -i FILE or redirect")
			}
			images, err := e.images.Load(bufio.NewReaderSize(in, 1<<20))
			// What a failed load unpacked, no image lists: it goes now.
			if _, pruneErr := e.removeUnusedLayers(); err == nil {
				err = pruneErr
			}
			if err != nil {
				return err
			}
			for _, img := range images {
				fmt.Println("Loaded image:", img.Name)
			}
			return nil
		}),
	}
}

func exportCommand() *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "write a container's filesystem (its image's layers and its changes, without volumes) as a tar, as docker export does",
		ArgsUsage: "CONTAINER",
		Flags:     []cli.Flag{outputFlag()},
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			if cmd.Args().Len() != 1 {
				return errors.New("usage: skiff export [-o FILE] CONTAINER")
			}
			c, err := e.containers.Get(cmd.Args().First())
			if err != nil {
				return err
			}
			if !c.ConfigKnown() {
				return fmt.Errorf("container %s is broken (%s): nothing to export", c.Name(), c.Broken)
			}
			return writeOutput(cmd.String("output"), func(w io.Writer) error { return exportFS(c, w) })
		}),
	}
}

// exportFS writes c's filesystem to w. Its upper folder and its image's
// layers are stacked as a read-only overlay (the upper folder as the
// topmost lower one: overlayfs reads its whiteouts there too), mounted
// detached (fsmount(2)): no other process sees it, and it is gone when
// its descriptor is closed, however skiff ends. A running container's own
// mounts (/proc, volumes) are not in it.
//
// In a user namespace, the container's files belong to the host's IDs of
// its range, which are mapped back to its own; the layers' files, which
// the container sees through an idmapped mount or a copy, are the host's
// as they are.
func exportFS(c *container.Container, w io.Writer) error {
	owners := image.Owners{}
	if u := c.Config.UserNS; u != nil {
		owners = image.Owners{UID: u.UID, GID: u.GID, Size: u.Size, KeepOthers: true}
	}
	if len(c.Config.Layers) == 0 {
		return image.WriteTree(w, c.Path("upper"), owners)
	}
	lower := append(slices.Clone(c.Config.Layers), c.Path("upper"))
	// index=off: the upper folder may be a running container's, which
	// overlayfs refuses to share otherwise.
	m := specs.Mount{Type: "overlay", Source: "overlay", Options: []string{"ro", "nodev", "index=off", container.LowerDir(lower)}}
	root, err := rootfs.DetachedOverlay(m, nil)
	if err != nil {
		return fmt.Errorf("export %s: %w", c.Name(), err)
	}
	defer root.Close()
	return image.WriteTree(w, fmt.Sprintf("/proc/self/fd/%d", root.Fd()), owners)
}

// writeOutput runs write on the file named file, or on stdout if file is
// "". Stdout must not be a terminal, as docker save and export refuse
// one too. The file appears only when complete: a failure leaves none.
func writeOutput(file string, write func(io.Writer) error) error {
	if file == "" {
		if term.IsTerminal(int(os.Stdout.Fd())) {
			return errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")
		}
		w := bufio.NewWriterSize(os.Stdout, 1<<20)
		if err := write(w); err != nil {
			return err
		}
		return w.Flush()
	}
	f, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	defer os.Remove(f.Name()) // fails once it is renamed
	removeOnSignal(f.Name())
	w := bufio.NewWriterSize(f, 1<<20)
	err = write(w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Chmod(0o644) // as Docker's, less the umask's say: CreateTemp makes 0600
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), file)
}

// removeOnSignal removes the file if skiff is interrupted or killed
// politely (SIGINT, SIGTERM, SIGHUP) before it ends: it is half-written.
func removeOnSignal(file string) {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, unix.SIGINT, unix.SIGTERM, unix.SIGHUP)
	go func() {
		sig := <-signals
		os.Remove(file)
		os.Exit(128 + int(sig.(unix.Signal)))
	}()
}

func historyCommand() *cli.Command {
	return &cli.Command{
		Name:      "history",
		Usage:     "show how an image was made: a line per step of its history, newest first",
		ArgsUsage: "IMAGE",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "human", Aliases: []string{"H"}, Value: true, Usage: "sizes and dates for humans (--human=false: bytes and RFC 3339)"},
			&cli.BoolFlag{Name: "no-trunc", Usage: "do not shorten IDs and commands"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only the image IDs"},
			&cli.StringFlag{Name: "format", Usage: "print each step through a Go `TEMPLATE` (Docker's fields: .ID .CreatedSince .CreatedAt .CreatedBy .Size .Comment); \"table TEMPLATE\" adds a header"},
		},
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			if cmd.Args().Len() != 1 {
				return errors.New("usage: skiff history [flags] IMAGE")
			}
			img, err := e.images.Get(cmd.Args().First())
			if err != nil {
				return err
			}
			steps, err := e.images.History(img)
			if err != nil {
				return err
			}
			var rows []any
			for i, step := range steps {
				rows = append(rows, historyRowOf(img, i, step, cmd.Bool("human"), !cmd.Bool("no-trunc")))
			}
			f, err := listFormatter(cmd, "{{.ID}}", "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}")
			if err != nil {
				return err
			}
			return f.print(os.Stdout, historyHeader, rows)
		}),
	}
}

// historyRow is one step as docker history prints it, with Docker's
// field names, so that --format templates from Docker work.
type historyRow struct {
	ID, CreatedSince, CreatedAt, CreatedBy, Size, Comment string
}

var historyHeader = historyRow{ID: "IMAGE", CreatedSince: "CREATED", CreatedAt: "CREATED AT", CreatedBy: "CREATED BY", Size: "SIZE", Comment: "COMMENT"}

// historyRowOf is the i-th step (newest first) of img. Only the newest is
// an image (img); Docker shows the steps below as <missing>, since their
// images are not in the store.
func historyRowOf(img *image.Image, i int, step image.Step, human, trunc bool) historyRow {
	row := historyRow{ID: "<missing>", CreatedAt: step.Created.Format(time.RFC3339), Comment: step.Comment,
		CreatedBy: strings.ReplaceAll(step.CreatedBy, "\t", " "), Size: strconv.FormatInt(step.Size, 10)}
	if i == 0 {
		row.ID = "sha256:" + img.ID
		if trunc {
			row.ID = img.ID[:12]
		}
	}
	if trunc && len([]rune(row.CreatedBy)) > 45 {
		row.CreatedBy = string([]rune(row.CreatedBy)[:44]) + "…"
	}
	row.CreatedSince = row.CreatedAt
	if human {
		row.CreatedSince = since(step.Created) + " ago"
		row.Size = humanSize(step.Size)
	}
	return row
}
