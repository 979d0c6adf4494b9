package image

// The store's test helpers, for pull_test.go (package image_test).
var (
	NeedRoot      = needRoot
	OpenStore     = openStore
	MakeTar       = makeTar
	Sha           = sha
	Stat          = stat
	Must          = must
	CheckContent  = checkContent
	CheckWhiteout = checkWhiteout
	CheckMissing  = checkMissing
)

type TarFile = tarFile

func (s *Store) LayersDir() string { return s.layersDir() }
