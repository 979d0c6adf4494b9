package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/urfave/cli/v3"

	"skiff/internal/container"
	"skiff/internal/image"
)

func dfCommand() *cli.Command {
	return &cli.Command{
		Name:  "df",
		Usage: "show the disk space images, containers and volumes use, and how much of it removing what no running container needs would free",
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			rows, err := e.diskUsage()
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
			fmt.Fprintln(w, "TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE")
			for _, r := range rows {
				fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\n", r.kind, r.total, r.active, humanSize(r.size), reclaimable(r.reclaimable, r.size))
			}
			return w.Flush()
		}),
	}
}

// usage is one line of system df.
type usage struct {
	kind              string
	total, active     int
	size, reclaimable int64
}

func reclaimable(n, of int64) string {
	if of == 0 {
		return humanSize(n)
	}
	return fmt.Sprintf("%s (%d%%)", humanSize(n), n*100/of)
}

// diskUsage adds up, as Docker's system df does: images (each layer once,
// however many images share it; active when a container was made from
// the image; reclaimable, the layers no container runs on), containers
// (their writable layers; active when running; reclaimable, those of
// stopped containers) and volumes.
func (e *env) diskUsage() ([]usage, error) {
	images, err := e.images.List()
	if err != nil {
		return nil, err
	}
	containers, err := e.containers.List()
	if err != nil {
		return nil, err
	}
	usedLayers, usedImages := map[string]bool{}, map[string]bool{}
	ctrs := usage{kind: "Containers", total: len(containers)}
	for _, c := range containers {
		if !c.ConfigKnown() {
			continue
		}
		usedImages[c.Config.Image] = true
		for _, dir := range c.Config.Layers {
			usedLayers[filepath.Base(dir)] = true
		}
		size, _ := image.DirSize(c.Path("upper"))
		ctrs.size += size
		if c.Status() == container.Running {
			ctrs.active++
		} else {
			ctrs.reclaimable += size
		}
	}
	imgs := usage{kind: "Images", total: len(images)}
	counted := map[string]bool{}
	for _, img := range images {
		if usedImages[img.Name] {
			imgs.active++
		}
		for _, id := range img.Layers {
			if counted[id] {
				continue
			}
			counted[id] = true
			size, err := e.images.LayerSize(id)
			if err != nil {
				return nil, err
			}
			imgs.size += size
			if !usedLayers[id] {
				imgs.reclaimable += size
			}
		}
	}
	vols, err := e.volumeUsage()
	if err != nil {
		return nil, err
	}
	return []usage{imgs, ctrs, vols}, nil
}

// volumeUsage adds up the volumes: active when a container, running or
// not, mounts one (`volume rm` refuses those); reclaimable, the others.
func (e *env) volumeUsage() (usage, error) {
	all, err := e.volumes().List()
	if err != nil {
		return usage{}, err
	}
	u := usage{kind: "Local Volumes", total: len(all)}
	for _, v := range all {
		size, _ := image.DirSize(v.Mountpoint)
		u.size += size
		if len(e.volumeUsers(v.Mountpoint)) > 0 {
			u.active++
		} else {
			u.reclaimable += size
		}
	}
	return u, nil
}
