package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/urfave/cli/v3"
	"golang.org/x/term"

	"skiff/internal/container"
	"skiff/internal/exit"
	"skiff/internal/image"
)

func importCommand() *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "make an image of a root filesystem: a tar (docker export, plain or gzip; - for stdin) or a folder",
		ArgsUsage: "TARBALL|-|DIR REPOSITORY[:TAG]",
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			if err := needArgs(cmd, 2, "TARBALL|-|DIR REPOSITORY[:TAG]"); err != nil {
				return err
			}
			src, name := cmd.Args().Get(0), cmd.Args().Get(1)
			var img *image.Image
			var err error
			switch info, statErr := os.Stat(src); {
			case src == "-" && term.IsTerminal(int(os.Stdin.Fd())):
				return errors.New("import -: stdin is a terminal, not a tar")
			case src == "-":
				img, err = e.images.ImportTar(bufio.NewReaderSize(os.Stdin, 1<<20), name)
			case statErr != nil:
				return statErr
			case info.IsDir():
				img, err = e.images.ImportDir(src, name)
			default:
				img, err = e.importTar(src, name)
			}
			if err != nil {
				return err
			}
			fmt.Println(img.ID)
			_, err = e.removeUnusedLayers()
			return err
		}),
	}
}

func (e *env) importTar(file, name string) (*image.Image, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return e.images.ImportTar(f, name)
}

func pullCommand() *cli.Command {
	return &cli.Command{
		Name:      "pull",
		Usage:     "download an image from an OCI or Docker registry",
		ArgsUsage: "REF",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress"}},
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			if err := needArgs(cmd, 1, "REF"); err != nil {
				return err
			}
			// The registry client lives in a binary of its own, so that
			// its weight is not on every container's start (package registry).
			pull, err := e.helper("skiff-pull")
			if err != nil {
				return err
			}
			args := []string{"--images", e.imagesDir}
			if cmd.Bool("quiet") {
				args = append(args, "--quiet")
			}
			helper := exec.CommandContext(ctx, pull, append(args, "--", cmd.Args().First())...)
			helper.Stdout, helper.Stderr = os.Stdout, os.Stderr
			if err := helper.Run(); err != nil {
				var failed *exec.ExitError
				if errors.As(err, &failed) { // skiff-pull said why
					return &exit.Error{Code: failed.ExitCode()}
				}
				return err
			}
			_, err = e.removeUnusedLayers()
			return err
		}),
	}
}

func imagesCommand() *cli.Command {
	return &cli.Command{
		Name:  "images",
		Usage: "list images",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only the image IDs"}},
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			all, err := e.images.List()
			if err != nil {
				return err
			}
			if cmd.Bool("quiet") {
				for _, img := range all {
					fmt.Println(img.ID[:12])
				}
				return nil
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
			fmt.Fprintln(w, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tLAYERS\tSIZE")
			for _, img := range all {
				i := strings.LastIndex(img.Name, ":")
				fmt.Fprintf(w, "%s\t%s\t%s\t%s ago\t%d\t%s\n", img.Name[:i], img.Name[i+1:], img.ID[:12],
					since(img.Created), len(img.Layers), humanSize(img.Size))
			}
			return w.Flush()
		}),
	}
}

func rmiCommand() *cli.Command {
	return &cli.Command{
		Name:      "rmi",
		Usage:     "remove images; their layers go when nothing else uses them",
		ArgsUsage: "IMAGE...",
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			if err := needArgs(cmd, 1, "IMAGE..."); err != nil {
				return err
			}
			containers, err := e.containers.List()
			if err != nil {
				return err
			}
			for _, name := range cmd.Args().Slice() {
				for _, c := range containers {
					if img, err := e.images.Get(name); err == nil && c.Config.Image == img.Name {
						return fmt.Errorf("image %s is used by container %s: remove it first", name, c.Config.Name)
					}
				}
				if err := e.images.Remove(name, e.layersInUse()); err != nil {
					return err
				}
				fmt.Println("Deleted:", name)
			}
			return nil
		}),
	}
}

func commitCommand() *cli.Command {
	return &cli.Command{
		Name:      "commit",
		Usage:     "make a new image of a container's changes and its process: its upper layer on top of its image",
		ArgsUsage: "CONTAINER IMAGE",
		Flags: []cli.Flag{&cli.StringSliceFlag{Name: "change", Aliases: []string{"c"},
			Usage: "a Dockerfile `INSTRUCTION` for the new image's config: ENV K=V, WORKDIR, USER, CMD, ENTRYPOINT (repeatable)"},
			&cli.StringFlag{Name: "message", Aliases: []string{"m"}, Usage: "the `COMMENT` of the new step in the image's history"},
			&cli.StringFlag{Name: "author", Aliases: []string{"a"}, Usage: "the `AUTHOR` of the new step in the image's history"}},
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			if err := needArgs(cmd, 2, "[--change INSTRUCTION]... CONTAINER IMAGE"); err != nil {
				return err
			}
			c, err := e.containers.Get(cmd.Args().Get(0))
			if err != nil {
				return err
			}
			if !c.ConfigKnown() {
				return fmt.Errorf("container %s is broken (%s): nothing to commit", c.Name(), c.Broken)
			}
			base, err := e.images.Get(c.Config.Image)
			if err != nil {
				return fmt.Errorf("container %s was run from the folder %s, not from an image: import it first", c.Config.Name, c.Config.Image)
			}
			config := committedConfig(c.Config.Process, base.Config)
			for _, change := range cmd.StringSlice("change") {
				if err := applyChange(&config, change); err != nil {
					return err
				}
			}
			img, err := e.images.Commit(c.Path("upper"), base, config, cmd.Args().Get(1), container.InitLayerFiles, owners(c.Config.UserNS),
				image.History{CreatedBy: strings.Join(c.Config.Process.Args, " "), Comment: cmd.String("message"), Author: cmd.String("author")})
			if err != nil {
				return err
			}
			fmt.Println(img.ID)
			_, err = e.removeUnusedLayers()
			return err
		}),
	}
}

// owners maps the owners of a container's files back to its own IDs: in
// a user namespace, its upper folder holds the host's.
func owners(u *container.UserNamespace) image.Owners {
	if u == nil {
		return image.Owners{}
	}
	return image.Owners{UID: u.UID, GID: u.GID, Size: u.Size}
}

// committedConfig is the config docker commit gives the new image: the
// container's environment, working folder, user and command, with the
// image's entrypoint (the command is what follows it).
func committedConfig(p specs.Process, base image.Config) image.Config {
	config := image.Config{Env: p.Env, WorkingDir: p.Cwd, Entrypoint: base.Entrypoint, Cmd: p.Args}
	if len(p.Args) >= len(base.Entrypoint) && slices.Equal(p.Args[:len(base.Entrypoint)], base.Entrypoint) {
		config.Cmd = p.Args[len(base.Entrypoint):]
	} else {
		config.Entrypoint = nil
	}
	if p.User.UID != 0 || p.User.GID != 0 {
		config.User = fmt.Sprintf("%d:%d", p.User.UID, p.User.GID)
	}
	if config.WorkingDir == "/" {
		config.WorkingDir = ""
	}
	return config
}

// applyChange edits config with one Dockerfile instruction, as docker
// commit --change does: ENV KEY=VALUE, WORKDIR DIR, USER NAME, and CMD or
// ENTRYPOINT as a JSON array (exec form) or a string run by /bin/sh -c.
func applyChange(config *image.Config, change string) error {
	instruction, value, _ := strings.Cut(strings.TrimSpace(change), " ")
	value = strings.TrimSpace(value)
	bad := func(why string) error { return fmt.Errorf("invalid --change %q: %s", change, why) }
	if value == "" {
		return bad("the instruction has no value")
	}
	switch strings.ToUpper(instruction) {
	case "ENV":
		kv := value
		if !strings.Contains(kv, "=") { // ENV KEY VALUE, the old form
			key, v, _ := strings.Cut(value, " ")
			kv = key + "=" + strings.TrimSpace(v)
		}
		config.Env = mergeEnv(config.Env, []string{kv})
	case "WORKDIR":
		if !strings.HasPrefix(value, "/") {
			return bad("WORKDIR needs an absolute path")
		}
		config.WorkingDir = value
	case "USER":
		config.User = value
	case "CMD", "ENTRYPOINT":
		args := []string{"/bin/sh", "-c", value}
		if strings.HasPrefix(value, "[") {
			args = nil
			if err := json.Unmarshal([]byte(value), &args); err != nil {
				return bad("want a JSON array of strings: " + err.Error())
			}
		}
		if strings.ToUpper(instruction) == "CMD" {
			config.Cmd = args
		} else {
			config.Entrypoint = args
		}
	default:
		return bad("want ENV, WORKDIR, USER, CMD or ENTRYPOINT")
	}
	return nil
}

// removeUnusedLayers deletes the layers no image lists and no container
// uses (those of an image whose name was just given to another), and
// what imports that a kill cut short left behind. It returns their IDs.
func (e *env) removeUnusedLayers() ([]string, error) {
	return e.images.PruneLayers(e.layersInUse())
}

// layersInUse tells whether a container runs on a layer. It lists the
// containers at its first call, which PruneLayers makes with the image
// store locked: a container created after that was created on layers
// that `run` held (image.Store.Hold) until its config named them. While a
// broken container has lost its config, every layer may be its own.
func (e *env) layersInUse() func(layerID string) bool {
	used := sync.OnceValue(func() map[string]bool {
		containers, err := e.containers.List()
		if err != nil {
			return nil
		}
		used := map[string]bool{}
		for _, c := range containers {
			if !c.ConfigKnown() {
				return nil
			}
			for _, dir := range c.Config.Layers {
				used[filepath.Base(dir)] = true
			}
		}
		return used
	})
	return func(layer string) bool {
		u := used()
		return u == nil || u[layer] // nil: the containers are not all known, keep everything
	}
}
