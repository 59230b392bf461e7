package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/valise-numerique/valise/internal/wire"
)

// Source is what the agent collects from: the real collectors of package
// collect, or the synthetic devices of package simulate. Each method always
// returns a report; what could not be read is recorded in its Collectors.
// The agent calls the methods from one goroutine at a time.
type Source interface {
	Inventory(ctx context.Context) wire.Inventory
	Health(ctx context.Context) wire.Health
	Net(ctx context.Context) wire.Net
}

// HashInventory is the default Config.Hash: a SHA-256 of the inventory's
// JSON without its collector runs (whose durations change every time).
func HashInventory(inv wire.Inventory) string {
	inv.Collectors = nil
	b, _ := json.Marshal(inv)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
