package cli

import (
	"fmt"

	"github.com/urfave/cli/v3"

	"skiff/internal/container"
	"skiff/internal/subid"
)

// usernsFlag is run's --userns, whose default SKIFF_USERNS may change:
// skiff has no daemon whose configuration would say it once for all.
func usernsFlag() cli.Flag {
	return &cli.StringFlag{Name: "userns", Value: "host", Sources: cli.EnvVars("SKIFF_USERNS"),
		Usage: "host (the host's user IDs), or private: a user namespace that maps root to an unprivileged ID of skiff's range in /etc/subuid and /etc/subgid (SKIFF_USERNS sets the default)"}
}

// userNSFromFlags reads --userns; private finds skiff's ranges, adding
// them to /etc/subuid and /etc/subgid the first time.
func userNSFromFlags(cmd *cli.Command) (*container.UserNamespace, error) {
	switch mode := cmd.String("userns"); mode {
	case "host", "":
		return nil, nil
	case "private":
		uids, gids, err := subid.Get()
		if err != nil {
			return nil, fmt.Errorf("--userns private: %w", err)
		}
		return &container.UserNamespace{UID: uids.Start, GID: gids.Start, Size: subid.Size}, nil
	default:
		return nil, fmt.Errorf("--userns %s: want host or private", mode)
	}
}
