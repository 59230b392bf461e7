package collect

import (
	"context"

	"github.com/shirou/gopsutil/v4/common"
)

// psContext returns ctx pointing gopsutil at the collector's root: its
// /proc, /sys, /etc, /var, /run and /dev instead of the environment's
// HOST_PROC and friends.
func (c *Collector) psContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, common.EnvKey, common.EnvMap{
		common.HostProcEnvKey: c.path("/proc"),
		common.HostSysEnvKey:  c.path("/sys"),
		common.HostEtcEnvKey:  c.path("/etc"),
		common.HostVarEnvKey:  c.path("/var"),
		common.HostRunEnvKey:  c.path("/run"),
		common.HostDevEnvKey:  c.path("/dev"),
		common.HostRootEnvKey: c.path("/"),
	})
}
