package image

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Tag gives the image source (a name or an ID) the name target too, as
// docker tag does. An image that had that name loses it; its layers stay
// until PruneLayers finds that no image lists them.
func (s *Store) Tag(source, target string) (*Image, error) {
	name, err := NormalizeName(target)
	if err != nil {
		return nil, err
	}
	index, unlock, err := s.lockedIndex(unix.LOCK_EX)
	if err != nil {
		return nil, err
	}
	defer unlock()
	found, err := find(index, source)
	if err != nil {
		return nil, err
	}
	tagged := *found[0]
	tagged.Name = name
	index[name] = &tagged
	if err := s.writeIndex(index); err != nil {
		return nil, fmt.Errorf("tag %s %s: %w", source, target, err)
	}
	return &tagged, nil
}
