// Package registry downloads images from OCI and Docker registries into
// skiff's image store, with go-containerregistry. It is skiff's only user
// of HTTP, TLS and that library, and lives in a binary of its own,
// skiff-pull (final/cmd/skiff-pull): every Go package a binary links runs
// its initialisers and costs page faults at each start, and skiff starts
// once per container.
package registry

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"skiff/internal/image"
)

// Pull downloads the image ref from its registry (Docker Hub if ref names
// none) and saves it under ref's normalised name. Layers already in the
// store are not downloaded again. Progress is reported to progress, if
// not nil.
func Pull(ctx context.Context, s *image.Store, ref string, progress *Progress) (*image.Image, error) {
	imgName, err := image.NormalizeName(ref)
	if err != nil {
		return nil, err
	}
	if progress == nil {
		progress = NewProgress(io.Discard, false)
	}
	img, err := fetch(ctx, imgName, progress)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", imgName, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("pull %s: image config: %w", imgName, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", imgName, err)
	}
	var ids []string
	for _, layer := range layers {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("pull %s: %w", imgName, err)
		}
		id, err := pullLayer(s, layer, progress)
		if err != nil {
			return nil, fmt.Errorf("pull %s: %w", imgName, err)
		}
		ids = append(ids, id)
	}
	config := image.Config{
		Env:        cf.Config.Env,
		Entrypoint: cf.Config.Entrypoint,
		Cmd:        cf.Config.Cmd,
		WorkingDir: cf.Config.WorkingDir,
		User:       cf.Config.User,
	}
	for port := range cf.Config.ExposedPorts {
		config.ExposedPorts = append(config.ExposedPorts, port)
	}
	slices.Sort(config.ExposedPorts)
	created := cf.Created.Time
	if created.IsZero() {
		created = time.Now()
	}
	var history []image.History
	for _, h := range cf.History {
		history = append(history, image.History{Created: h.Created.Time, Author: h.Author, CreatedBy: h.CreatedBy,
			Comment: h.Comment, EmptyLayer: h.EmptyLayer})
	}
	return s.AddImage(imgName, ids, config, created, history...)
}

// fetch reads the image's manifest, for this machine's architecture if
// the image is multi-platform. Layers download only when read.
func fetch(ctx context.Context, imgName string, progress *Progress) (v1.Image, error) {
	var opts []name.Option
	if isLoopback(imgName) {
		opts = append(opts, name.Insecure) // plain http, as a local test registry speaks
	}
	ref, err := name.ParseReference(imgName, opts...)
	if err != nil {
		return nil, err
	}
	return remote.Image(ref,
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(authn.DefaultKeychain), // ~/.docker/config.json, if any
		remote.WithPlatform(v1.Platform{OS: "linux", Architecture: runtime.GOARCH}),
		remote.WithTransport(progress.Transport(remote.DefaultTransport)),
	)
}

// isLoopback tells whether imgName's registry is on this machine.
func isLoopback(imgName string) bool {
	host := image.Host(imgName)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// pullLayer downloads and unpacks one layer, unless the store has it.
func pullLayer(s *image.Store, layer v1.Layer, progress *Progress) (string, error) {
	diffID, err := layer.DiffID()
	if err != nil {
		return "", err
	}
	if diffID.Algorithm != "sha256" {
		return "", fmt.Errorf("layer %s: unsupported digest algorithm", diffID)
	}
	id := diffID.Hex
	if s.HasLayer(id) {
		progress.Exists(id[:12])
		return id, nil
	}
	digest, err := layer.Digest()
	if err != nil {
		return "", err
	}
	size, err := layer.Size()
	if err != nil {
		return "", err
	}
	rc, err := layer.Uncompressed()
	if err != nil {
		return "", fmt.Errorf("layer %s: %w", id, err)
	}
	defer rc.Close()
	tracked := progress.Track(rc, id[:12], digest.String(), size)
	// AddLayer checks the tar's digest against the diffID.
	if err := s.AddLayer(tracked, id); err != nil {
		return "", err
	}
	tracked.Done()
	return id, nil
}

func humanSize(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}
