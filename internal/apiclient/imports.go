package apiclient

import (
	"context"
	"io"

	"github.com/valise-numerique/valise/internal/apitype"
)

// Import sends a CSV file of devices, venues or kits.
func (c *Client) Import(ctx context.Context, kind string, csv []byte, dryRun bool) (apitype.ImportReport, error) {
	return apitype.ImportReport{}, errTODO
}

// Export writes the CSV of devices, loans, venues or kits to w.
func (c *Client) Export(ctx context.Context, kind string, w io.Writer) error { return errTODO }
