package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v3"

	"skiff/internal/caps"
	"skiff/internal/container"
	"skiff/internal/seccomp"
)

// securityFlags are run's flags for what root in the container may do.
func securityFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "cap-add", Usage: "give the container a `CAPABILITY` (NET_ADMIN, or ALL) beyond the defaults"},
		&cli.StringSliceFlag{Name: "cap-drop", Usage: "take a `CAPABILITY` (NET_RAW, or ALL) from the defaults"},
		&cli.StringSliceFlag{Name: "security-opt", Usage: "`OPTION`: no-new-privileges, seccomp=unconfined, or seccomp=PROFILE.json (Docker's format)"},
		&cli.BoolFlag{Name: "privileged", Usage: "every capability and device, /proc and /sys writable: the host's root, in all but name"},
	}
}

// securityFromFlags reads them.
func securityFromFlags(cmd *cli.Command) (container.Security, error) {
	s := container.Security{Privileged: cmd.Bool("privileged")}
	for _, name := range cmd.StringSlice("cap-add") {
		s.CapAdd = append(s.CapAdd, caps.Normalize(name))
	}
	for _, name := range cmd.StringSlice("cap-drop") {
		s.CapDrop = append(s.CapDrop, caps.Normalize(name))
	}
	var profile string
	for _, opt := range cmd.StringSlice("security-opt") {
		if err := applySecurityOpt(&s, &profile, opt); err != nil {
			return s, err
		}
	}
	if s.Seccomp == container.CustomProfile {
		// Read now: the container keeps the profile, not the file's path.
		names, err := s.Capabilities()
		if err != nil {
			return s, fmt.Errorf("--cap-add/--cap-drop: %w", err)
		}
		if s.Profile, err = seccomp.LoadProfile(profile, names); err != nil {
			return s, err
		}
	}
	return s, nil
}

// applySecurityOpt reads one --security-opt, in Docker's spellings:
// KEY=VALUE or KEY:VALUE; a seccomp profile's file goes to profile.
func applySecurityOpt(s *container.Security, profile *string, opt string) error {
	key, value, hasValue := strings.Cut(opt, "=")
	if !hasValue {
		key, value, hasValue = strings.Cut(opt, ":")
	}
	switch key {
	case "no-new-privileges":
		on := true
		if hasValue {
			var err error
			if on, err = strconv.ParseBool(value); err != nil {
				return fmt.Errorf("--security-opt %s: want no-new-privileges or no-new-privileges=true|false", opt)
			}
		}
		s.NoNewPrivileges = on
		return nil
	case "seccomp":
		switch {
		case !hasValue || value == "":
			return fmt.Errorf("--security-opt %s: want seccomp=unconfined or seccomp=PROFILE.json", opt)
		case value == container.Unconfined:
			s.Seccomp = container.Unconfined
		default:
			s.Seccomp, *profile = container.CustomProfile, value
		}
		return nil
	case "apparmor", "label":
		return fmt.Errorf("--security-opt %s: skiff applies no AppArmor profile or SELinux label", opt)
	}
	return fmt.Errorf("--security-opt %s: unknown option (skiff knows no-new-privileges and seccomp=)", opt)
}
