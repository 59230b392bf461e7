package main

import (
	"os"
	"path/filepath"
	"runtime"
)

// defaultState is the agent's state dir when --state is not given: where
// the systemd unit, the OpenWrt init script and the Windows task of
// package provisioning run the agent from, so that the join command
// printed by the server works as it is.
func defaultState() string {
	switch runtime.GOOS {
	case "windows":
		base := os.Getenv("ProgramData")
		if base == "" {
			base = `C:\ProgramData`
		}
		return filepath.Join(base, "Valise", "agent")
	case "android": // Termux: no root, a home dir
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, ".valise-agent")
		}
	}
	return "/var/lib/valise-agent"
}
