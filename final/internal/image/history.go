package image

import (
	"errors"
	"slices"
	"time"
)

// History is one step of an image's making, as an OCI image config's
// history records it (same JSON): a Dockerfile instruction, a commit, an
// import. A step that changed only the config (ENV, CMD) made no layer:
// EmptyLayer. The others match the image's layers, in order.
type History struct {
	Created    time.Time `json:"created,omitzero"`
	Author     string    `json:"author,omitempty"`
	CreatedBy  string    `json:"created_by,omitempty"`
	Comment    string    `json:"comment,omitempty"`
	EmptyLayer bool      `json:"empty_layer,omitempty"`
}

// maxHistory bounds the steps of an image's history: an image has at
// most a few hundred layers (overlayfs stacks at most 500), and a config
// with millions of empty steps is an attack on whoever lists them.
const maxHistory = 10000

// checkHistory refuses a history that names more layers than the image
// has, as Docker does ("too many non-empty layers"). Fewer is fine: tools
// that build images without a history leave it short or empty.
func checkHistory(history []History, layers int) error {
	if len(history) > maxHistory {
		return errors.New("the image's history has more than 10000 steps")
	}
	if layerSteps(history) > layers {
		return errors.New("the image's history lists more layers than the image has")
	}
	return nil
}

// history is img's history, with a step at its creation time for each
// layer that it does not account for: all of them for an image saved
// without one (by an older skiff), the last ones for an image whose
// builder wrote a short one. Each layer then has its step.
func (img *Image) history() []History {
	steps := slices.Clone(img.History)
	for range len(img.Layers) - layerSteps(steps) {
		steps = append(steps, History{Created: img.Created})
	}
	return steps
}

// layerSteps counts the steps of history that made a layer.
func layerSteps(history []History) int {
	n := 0
	for _, h := range history {
		if !h.EmptyLayer {
			n++
		}
	}
	return n
}

// Step is one row of `skiff history`: a step of the image's making and
// the size of the layer it made (0 for a step that made none).
type Step struct {
	History
	Layer string // the layer's id, "" if the step made none
	Size  int64
}

// History returns the steps that made img, newest first, as docker
// history lists them.
func (s *Store) History(img *Image) ([]Step, error) {
	var steps []Step
	layer := 0
	for _, h := range img.history() {
		step := Step{History: h}
		if !h.EmptyLayer && layer < len(img.Layers) {
			step.Layer = img.Layers[layer]
			size, err := dirSize(s.layerDir(step.Layer))
			if err != nil {
				return nil, err
			}
			step.Size = size
			layer++
		}
		steps = append(steps, step)
	}
	slices.Reverse(steps)
	return steps, nil
}
