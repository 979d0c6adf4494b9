package cli

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v3"

	"skiff/internal/container"
	"skiff/internal/exit"
	"skiff/internal/image"
	"skiff/internal/volume"
)

func volumeCommand() *cli.Command {
	return &cli.Command{
		Name:  "volume",
		Usage: "manage volumes: folders kept under DATA_ROOT/volumes/NAME/_data that outlive containers",
		Commands: []*cli.Command{
			{
				Name:      "create",
				Usage:     "create a volume (a random name without NAME) and print its name",
				ArgsUsage: "[NAME]",
				Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
					if cmd.Args().Len() > 1 {
						return errors.New("usage: skiff volume create [NAME]")
					}
					v, _, err := e.volumes().Create(cmd.Args().First(), nil)
					if err != nil {
						return err
					}
					fmt.Println(v.Name)
					return nil
				}),
			},
			{
				Name:  "ls",
				Usage: "list volumes",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only the names"},
					&cli.StringFlag{Name: "format", Usage: "print each volume through a Go `TEMPLATE` (Docker's fields: .Name .Driver .Mountpoint .Scope .CreatedAt .Labels); \"table TEMPLATE\" adds a header"},
				},
				Action: command(volumeLsAction),
			},
			{
				Name:      "rm",
				Usage:     "remove volumes that no container mounts",
				ArgsUsage: "NAME...",
				Flags:     []cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "no error for a volume that does not exist"}},
				Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
					if err := needArgs(cmd, 1, "[-f] NAME..."); err != nil {
						return err
					}
					return eachVolume(cmd, func(name string) error {
						err := e.volumes().Remove(name, e.volumeUsers)
						if errors.Is(err, volume.ErrNotFound) && cmd.Bool("force") {
							return nil
						}
						if err == nil {
							fmt.Println(name)
						}
						return err
					})
				}),
			},
			{
				Name:      "inspect",
				Usage:     "print volumes as a JSON array (Docker's shape)",
				ArgsUsage: "NAME...",
				Flags: []cli.Flag{&cli.StringFlag{Name: "format", Aliases: []string{"f"},
					Usage: "print each volume through a Go `TEMPLATE` ({{.Mountpoint}}, {{.Name}}...)"}},
				Action: command(volumeInspectAction),
			},
		},
	}
}

func volumeLsAction(ctx context.Context, cmd *cli.Command, e *env) error {
	all, err := e.volumes().List()
	if err != nil {
		return err
	}
	f, err := listFormatter(cmd, "{{.Name}}", "table {{.Driver}}\t{{.Name}}")
	if err != nil {
		return err
	}
	var rows []any
	for _, v := range all {
		rows = append(rows, v)
	}
	header := volume.Volume{Driver: "DRIVER", Name: "VOLUME NAME", Mountpoint: "MOUNTPOINT", Scope: "SCOPE"}
	return f.print(os.Stdout, header, rows)
}

func volumeInspectAction(ctx context.Context, cmd *cli.Command, e *env) error {
	if err := needArgs(cmd, 1, "NAME..."); err != nil {
		return err
	}
	if err := checkFormat(cmd.String("format")); err != nil {
		return err
	}
	all, views := []*volume.Volume{}, []any{}
	err := eachVolume(cmd, func(name string) error {
		v, err := e.volumes().Get(name)
		if err == nil {
			all, views = append(all, v), append(views, v)
		}
		return err
	})
	if perr := printInspected(cmd.String("format"), all, views); perr != nil {
		return perr
	}
	return err
}

// eachVolume runs f for every NAME argument, going on after errors as
// eachContainer does.
func eachVolume(cmd *cli.Command, f func(name string) error) error {
	failed := 0
	for _, name := range cmd.Args().Slice() {
		if err := f(name); err != nil {
			if cmd.Args().Len() == 1 {
				return err
			}
			fmt.Fprintln(os.Stderr, "skiff:", err)
			failed++
		}
	}
	if failed > 0 {
		return &exit.Error{Code: 1}
	}
	return nil
}

func (e *env) volumes() *volume.Store {
	return &volume.Store{Root: filepath.Join(filepath.Dir(e.imagesDir), "volumes")}
}

// volumeUsers names the containers, running or not, that mount the
// folder mountpoint.
func (e *env) volumeUsers(mountpoint string) []string {
	all, _ := e.containers.List()
	var users []string
	for _, c := range all {
		if slices.ContainsFunc(c.Config.Mounts, func(m specs.Mount) bool { return m.Source == mountpoint }) {
			users = append(users, c.Config.ID)
		}
	}
	return users
}

// volumeFlags are run's flags for volumes beyond -v.
func volumeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "mount", Usage: "mount `type=bind|volume|tmpfs,source=…,target=…[,readonly][,…]` (Docker's keys: src, dst, destination, " +
			"bind-propagation, volume-nocopy, tmpfs-size, tmpfs-mode; repeatable)"},
	}
}

// rmVolumesFlag is rm's -v.
func rmVolumesFlag() cli.Flag {
	return &cli.BoolFlag{Name: "volumes", Aliases: []string{"v"}, Usage: "remove the container's anonymous volumes too"}
}

// mountRequest is one -v or --mount, parsed.
type mountRequest struct {
	Type        string // bind, volume or tmpfs
	Source      string // the host's path (bind), the volume's name ("" for an anonymous one)
	Target      string
	ReadOnly    bool
	NoCopy      bool   // volume-nocopy: leave a new volume empty
	Propagation string // bind-propagation
	TmpfsSize   int64
	TmpfsMode   os.FileMode
	anonymous   bool // a volume named by plan
}

// parseVolumeFlag reads -v as Docker does: /CTR is an anonymous
// volume, NAME:/CTR a named one, /HOST:/CTR a bind mount; then :MODE,
// a comma-separated list of ro, rw and nocopy.
func parseVolumeFlag(spec string) (mountRequest, error) {
	parts := strings.Split(spec, ":")
	var r mountRequest
	mode := ""
	switch len(parts) {
	case 1:
		r.Type, r.Target = "volume", parts[0]
	case 2:
		if filepath.IsAbs(parts[0]) && !filepath.IsAbs(parts[1]) { // /CTR:MODE
			r.Type, r.Target, mode = "volume", parts[0], parts[1]
		} else {
			r.Source, r.Target = parts[0], parts[1]
		}
	case 3:
		r.Source, r.Target, mode = parts[0], parts[1], parts[2]
	default:
		return r, fmt.Errorf("invalid volume %q: want [HOST:|NAME:]CTR[:ro]", spec)
	}
	if r.Type == "" {
		r.Type = "volume"
		if filepath.IsAbs(r.Source) {
			r.Type = "bind"
		}
	}
	for _, m := range strings.Split(mode, ",") {
		switch {
		case m == "" && mode == "":
		case m == "ro" || m == "rw":
			r.ReadOnly = m == "ro"
		case m == "nocopy" && r.Type == "volume":
			r.NoCopy = true
		default:
			return r, fmt.Errorf("invalid volume %q: mode %q is none of ro, rw, nocopy", spec, m)
		}
	}
	return r, r.check("volume " + strconv.Quote(spec))
}

// parseMountFlag reads --mount: comma-separated KEY=VALUE fields, CSV
// quoting allowed, with Docker's keys.
func parseMountFlag(spec string) (mountRequest, error) {
	r := mountRequest{Type: "volume"}
	what := "--mount " + strconv.Quote(spec)
	fields, err := csv.NewReader(strings.NewReader(spec)).Read()
	if err != nil {
		return r, fmt.Errorf("invalid %s: %w", what, err)
	}
	var size, mode string
	for _, field := range fields {
		key, value, hasValue := strings.Cut(field, "=")
		switch key = strings.ToLower(strings.TrimSpace(key)); key {
		case "type":
			r.Type = value
		case "source", "src":
			r.Source = value
		case "target", "destination", "dst":
			r.Target = value
		case "readonly", "ro", "volume-nocopy":
			b := true
			if hasValue {
				if b, err = strconv.ParseBool(value); err != nil {
					return r, fmt.Errorf("invalid %s: %s=%q is not true or false", what, key, value)
				}
			}
			if key == "volume-nocopy" {
				r.NoCopy = b
			} else {
				r.ReadOnly = b
			}
		case "bind-propagation":
			r.Propagation = value
		case "tmpfs-size":
			size = value
		case "tmpfs-mode":
			mode = value
		case "volume-driver":
			if value != "local" {
				return r, fmt.Errorf("invalid %s: skiff has only the local volume driver", what)
			}
		default:
			return r, fmt.Errorf("invalid %s: unknown key %q", what, key)
		}
	}
	if size != "" {
		if r.TmpfsSize, err = parseSize(size); err != nil {
			return r, fmt.Errorf("invalid %s: tmpfs-size %q: %w", what, size, err)
		}
	}
	if mode != "" {
		m, err := strconv.ParseUint(mode, 8, 32)
		if err != nil || m > 0o7777 {
			return r, fmt.Errorf("invalid %s: tmpfs-mode %q is not an octal mode", what, mode)
		}
		r.TmpfsMode = os.FileMode(m)
	}
	if (size != "" || mode != "") && r.Type != "tmpfs" {
		return r, fmt.Errorf("invalid %s: tmpfs-size and tmpfs-mode are for type=tmpfs", what)
	}
	return r, r.check(what)
}

// check refuses what no mount of the type takes.
func (r mountRequest) check(what string) error {
	switch {
	case r.Target == "" || !filepath.IsAbs(r.Target):
		return fmt.Errorf("invalid %s: the target must be an absolute path", what)
	case filepath.Clean(r.Target) == "/":
		return fmt.Errorf("invalid %s: cannot mount over the container's root", what)
	case r.Type != "bind" && r.Type != "volume" && r.Type != "tmpfs":
		return fmt.Errorf("invalid %s: type %q is none of bind, volume, tmpfs", what, r.Type)
	case r.Type == "bind" && !filepath.IsAbs(r.Source):
		return fmt.Errorf("invalid %s: a bind mount's source must be an absolute path of the host", what)
	case r.Type == "volume" && r.Source != "":
		return volume.CheckName(r.Source)
	case r.Type == "tmpfs" && r.Source != "":
		return fmt.Errorf("invalid %s: a tmpfs has no source", what)
	case r.Propagation != "" && r.Type != "bind":
		return fmt.Errorf("invalid %s: bind-propagation is for type=bind", what)
	case r.Propagation != "" && !slices.Contains([]string{"private", "rprivate", "shared", "rshared", "slave", "rslave"}, r.Propagation):
		return fmt.Errorf("invalid %s: bind-propagation %q is none of [r]private, [r]shared, [r]slave", what, r.Propagation)
	case r.NoCopy && r.Type != "volume":
		return fmt.Errorf("invalid %s: volume-nocopy is for volumes", what)
	}
	return nil
}

// mountsFromFlags reads -v and --mount, creates the volumes they name
// (a new volume gets the image's files at its target), and adds them
// to cfg's mounts, sorted so that a mount inside another comes after
// it, as Docker sorts them. The configuration is validated whole first:
// a target that Store.Create would refuse must not leave a new volume
// behind. If making a volume fails, those it made are removed.
func (e *env) mountsFromFlags(cmd *cli.Command, cfg *container.Config, layers []string) (err error) {
	var requests []mountRequest
	for _, spec := range cmd.StringSlice("volume") {
		r, err := parseVolumeFlag(spec)
		if err != nil {
			return err
		}
		requests = append(requests, r)
	}
	for _, spec := range cmd.StringSlice("mount") {
		r, err := parseMountFlag(spec)
		if err != nil {
			return err
		}
		requests = append(requests, r)
	}
	p := &volumePreparer{store: e.volumes(), layers: layers}
	if cfg.UserNS != nil {
		p.owners = image.Owners{UID: cfg.UserNS.UID, GID: cfg.UserNS.GID, Size: cfg.UserNS.Size}
	}
	planned := make([]specs.Mount, len(requests))
	for i := range requests {
		if planned[i], err = p.plan(&requests[i]); err != nil {
			return err
		}
	}
	all, err := sortMounts(append(planned, cfg.Mounts...))
	if err != nil {
		return err
	}
	trial := *cfg
	trial.Mounts = all
	if err := trial.Validate(); err != nil {
		return err
	}
	defer p.close()
	for _, r := range requests {
		if err := p.make(r); err != nil {
			p.removeCreated()
			return err
		}
	}
	cfg.Mounts = all
	return nil
}

// sortMounts refuses two mounts on one path, and sorts them by depth.
func sortMounts(mounts []specs.Mount) ([]specs.Mount, error) {
	seen := map[string]bool{}
	for _, m := range mounts {
		if seen[m.Destination] {
			return nil, fmt.Errorf("duplicate mount point: %s", m.Destination)
		}
		seen[m.Destination] = true
	}
	slices.SortStableFunc(mounts, func(a, b specs.Mount) int { return depth(a.Destination) - depth(b.Destination) })
	return mounts, nil
}

func depth(p string) int { return strings.Count(filepath.Clean(p), "/") }

// volumePreparer makes the mounts of one container.
type volumePreparer struct {
	store   *volume.Store
	layers  []string     // the image's, whose files a new volume gets
	owners  image.Owners // the container's user namespace
	image   *os.File     // the image's root, once opened
	created []string     // the volumes made, to remove on failure
}

// plan is the mount r asks for, making nothing yet: an anonymous
// volume is given its name here.
func (p *volumePreparer) plan(r *mountRequest) (specs.Mount, error) {
	m := specs.Mount{Destination: filepath.Clean(r.Target), Type: "bind", Source: filepath.Clean(r.Source), Options: []string{"rbind"}}
	if r.ReadOnly {
		m.Options = append(m.Options, "ro")
	}
	switch r.Type {
	case "tmpfs":
		m.Type, m.Source, m.Options = "tmpfs", "tmpfs", []string{"nosuid", "nodev", "noexec"}
		if r.ReadOnly {
			m.Options = append(m.Options, "ro")
		}
		if r.TmpfsSize > 0 {
			m.Options = append(m.Options, fmt.Sprintf("size=%d", r.TmpfsSize))
		}
		if r.TmpfsMode != 0 {
			m.Options = append(m.Options, fmt.Sprintf("mode=%o", r.TmpfsMode))
		}
	case "bind":
		if _, err := os.Stat(m.Source); err != nil {
			return m, fmt.Errorf("invalid mount source %s: %w", r.Source, err)
		}
		if r.Propagation != "" {
			m.Options = append(m.Options, r.Propagation)
		}
	case "volume":
		if r.Source == "" {
			r.Source, r.anonymous = volume.NewName(), true
		}
		m.Source = p.store.Mountpoint(r.Source)
	}
	return m, nil
}

// make creates the volume r names, if it is new, and gives it the
// image's files at its target.
func (p *volumePreparer) make(r mountRequest) error {
	if r.Type != "volume" {
		return nil
	}
	var labels map[string]string
	if r.anonymous {
		labels = map[string]string{volume.AnonymousLabel: ""}
	}
	v, created, err := p.store.Create(r.Source, labels)
	if err != nil {
		return err
	}
	if created {
		p.created = append(p.created, v.Name)
	}
	var img *os.File
	if !r.NoCopy {
		if img, err = p.imageRoot(); err != nil {
			return err
		}
	}
	if err := volume.Populate(v.Mountpoint, img, filepath.Clean(r.Target), p.owners); err != nil {
		return fmt.Errorf("volume %s: %w", v.Name, err)
	}
	return nil
}

func (p *volumePreparer) imageRoot() (*os.File, error) {
	if p.image == nil {
		var err error
		if p.image, err = volume.OpenImage(p.layers); err != nil {
			return nil, fmt.Errorf("open the image to copy its files into a volume: %w", err)
		}
	}
	return p.image, nil
}

func (p *volumePreparer) close() {
	if p.image != nil {
		p.image.Close()
	}
}

func (p *volumePreparer) removeCreated() {
	for _, name := range p.created {
		p.store.Remove(name, func(string) []string { return nil })
	}
}

// removeAnonymousVolumes removes the anonymous volumes cfg mounts, but
// those another container mounts too (with a warning, as Docker).
func (e *env) removeAnonymousVolumes(cfg container.Config) {
	store := e.volumes()
	for _, m := range cfg.Mounts {
		name, ok := store.NameOf(m.Source)
		if !ok {
			continue
		}
		if v, err := store.Get(name); err != nil || !v.Anonymous() {
			continue
		}
		if err := store.Remove(name, e.volumeUsers); err != nil && !errors.Is(err, volume.ErrNotFound) {
			fmt.Fprintln(os.Stderr, "skiff: warning:", err)
		}
	}
}

// autoRemoveVolumes removes a --rm container's anonymous volumes once
// the container is gone, as Docker does.
func (e *env) autoRemoveVolumes(c *container.Container) {
	if !c.Config.AutoRemove {
		return
	}
	if _, err := e.containers.Get(c.Config.ID); errors.Is(err, container.ErrNotFound) {
		e.removeAnonymousVolumes(c.Config)
	}
}
