package image

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// Compiled on first use: every skiff process, the container's init too,
// would otherwise pay for them at start-up.
//
// The grammar of Docker's image references, without digests:
//
//	[HOST[:PORT]/]COMPONENT[/COMPONENT]...[:TAG]
var (
	componentPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`) })
	hostPattern      = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$`)
	})
	tagPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`) })
)

const maxRepoLength = 255

// NormalizeName checks an image name and returns it as "repo:tag":
// "busybox" becomes "busybox:latest". Docker Hub's own prefixes are
// dropped, as Docker shows them: "docker.io/library/busybox" is
// "busybox:latest" too.
func NormalizeName(name string) (string, error) {
	bad := func(format string, args ...any) (string, error) {
		return "", fmt.Errorf("invalid image name %q: %s", name, fmt.Sprintf(format, args...))
	}
	if name == "" {
		return bad("it is empty")
	}
	if strings.Contains(name, "@") {
		return bad("digests are not supported, use a tag")
	}
	host, rest := splitHost(name)
	if host != "" && !hostPattern().MatchString(host) {
		return bad("%q is not a valid registry host[:port]", host)
	}
	repo, tag := rest, "latest"
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		repo, tag = rest[:i], rest[i+1:]
		if !tagPattern().MatchString(tag) {
			return bad("tag %q must be 1 to 128 of A-Z a-z 0-9 _ . - and not start with . or -", tag)
		}
	}
	if repo == "" {
		return bad("the repository name is missing")
	}
	for _, component := range strings.Split(repo, "/") {
		switch {
		case componentPattern().MatchString(component):
		case componentPattern().MatchString(strings.ToLower(component)):
			return bad("the repository name must be lowercase")
		case component == "":
			return bad("empty path component (a leading, trailing or double /)")
		default:
			return bad("path component %q must be a-z 0-9 separated by . _ __ or -", component)
		}
	}
	if host == "docker.io" || host == "index.docker.io" {
		host = ""
	}
	if host == "" && strings.HasPrefix(repo, "library/") && strings.Count(repo, "/") == 1 {
		repo = strings.TrimPrefix(repo, "library/")
	}
	if host != "" {
		repo = host + "/" + repo
	}
	if len(repo) > maxRepoLength {
		return bad("the repository name is longer than %d characters", maxRepoLength)
	}
	return repo + ":" + tag, nil
}

// Host is the registry host an image name starts with, if any.
func Host(name string) string {
	host, _ := splitHost(name)
	return host
}

// splitHost splits off the registry host, which is the first component if
// it looks like a host: it has a dot or a port, is "localhost", or has
// capitals (which a repository may not).
func splitHost(name string) (host, rest string) {
	first, rest, found := strings.Cut(name, "/")
	if !found {
		return "", name
	}
	if strings.ContainsAny(first, ".:") || first == "localhost" || strings.ToLower(first) != first {
		return first, rest
	}
	return "", name
}
