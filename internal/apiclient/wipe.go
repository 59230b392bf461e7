package apiclient

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/valise-numerique/valise/internal/apitype"
)

// maxCertificate bounds a certificate file or PDF read from the server.
const maxCertificate = 16 << 20

// MaxImportLog is the largest external log ImportNwipeLog sends; the server
// refuses larger ones.
const MaxImportLog = 4 << 20

// CreateWipes asks for one wipe job per device of req and returns the jobs
// the server created, in the order of req.Devices.
func (c *Client) CreateWipes(ctx context.Context, req apitype.WipeRequest) ([]apitype.WipeJob, error) {
	if len(req.Devices) == 0 {
		return nil, fmt.Errorf("wipe: no device given")
	}
	for _, d := range req.Devices {
		if err := checkRef(d); err != nil {
			return nil, err
		}
	}
	jobs := []apitype.WipeJob{}
	if err := c.do(ctx, http.MethodPost, "/api/v1/wipes", nil, req, &jobs); err != nil {
		return nil, err
	}
	return nonNil(jobs), nil
}

// WipeJobs lists the wipe jobs, only those not ended yet when active.
func (c *Client) WipeJobs(ctx context.Context, active bool) ([]apitype.WipeJob, error) {
	var q url.Values
	if active {
		q = url.Values{"active": {"true"}}
	}
	jobs := []apitype.WipeJob{}
	if err := c.do(ctx, http.MethodGet, "/api/v1/wipes", q, nil, &jobs); err != nil {
		return nil, err
	}
	return nonNil(jobs), nil
}

// WipeJob returns one wipe job by id, with its latest progress.
func (c *Client) WipeJob(ctx context.Context, id string) (apitype.WipeJob, error) {
	var j apitype.WipeJob
	if err := checkID("wipe job", id); err != nil {
		return j, err
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/wipes/"+url.PathEscape(id), nil, nil, &j)
	return j, err
}

// Certificates lists the wipe certificates of a device, by id or asset
// tag, newest first.
func (c *Client) Certificates(ctx context.Context, ref string) ([]apitype.CertificateInfo, error) {
	if err := checkRef(ref); err != nil {
		return nil, err
	}
	certs := []apitype.CertificateInfo{}
	if err := c.do(ctx, http.MethodGet, "/api/v1/devices/"+url.PathEscape(ref)+"/certificates", nil, nil, &certs); err != nil {
		return nil, err
	}
	return nonNil(certs), nil
}

// CertificateFile returns the bytes of a certificate file, exactly as the
// server stores them (canonical JSON of internal/certificate.File): give
// them to certificate.Verify as they are.
func (c *Client) CertificateFile(ctx context.Context, id string) ([]byte, error) {
	if err := checkID("certificate", id); err != nil {
		return nil, err
	}
	return c.send(ctx, http.MethodGet, "/api/v1/certificates/"+url.PathEscape(id), nil, "", nil, "application/json", maxCertificate)
}

// CertificatePDF returns a certificate rendered as a PDF, for filing.
func (c *Client) CertificatePDF(ctx context.Context, id string) ([]byte, error) {
	if err := checkID("certificate", id); err != nil {
		return nil, err
	}
	path := "/api/v1/certificates/" + url.PathEscape(id) + "/pdf"
	b, err := c.send(ctx, http.MethodGet, path, nil, "", nil, "application/pdf", maxCertificate)
	if err == nil && !strings.HasPrefix(string(b), "%PDF-") {
		return nil, fmt.Errorf("GET %s: %w: not a PDF", path, ErrBadAnswer)
	}
	return b, err
}

// ImportNwipeLog attaches the log of an nwipe (ShredOS) run to a device, by
// id or asset tag, as external wipe evidence. The server accepts it only if
// the wiped drive's serial is one of the device's disks.
func (c *Client) ImportNwipeLog(ctx context.Context, ref string, log []byte) (apitype.CertificateInfo, error) {
	var info apitype.CertificateInfo
	if err := checkRef(ref); err != nil {
		return info, err
	}
	switch {
	case len(log) == 0:
		return info, fmt.Errorf("import: the log is empty")
	case len(log) > MaxImportLog:
		return info, fmt.Errorf("import: the log is %d bytes, over the limit of %d MiB", len(log), MaxImportLog>>20)
	}
	path := "/api/v1/devices/" + url.PathEscape(ref) + "/certificates/import"
	data, err := c.send(ctx, http.MethodPost, path, nil, "text/plain; charset=utf-8", log, "application/json", maxAnswer)
	if err != nil {
		return info, err
	}
	return info, c.decode(http.MethodPost, path, data, &info)
}

// ServerKey returns the server's public signing key. Fetch it once over a
// channel you trust and keep it: certificate verification is then offline.
func (c *Client) ServerKey(ctx context.Context) (apitype.ServerKey, error) {
	var k apitype.ServerKey
	err := c.do(ctx, http.MethodGet, "/api/v1/server-key", nil, nil, &k)
	return k, err
}

// CreateProvision asks for a device to be provisioned with a profile.
func (c *Client) CreateProvision(ctx context.Context, req apitype.ProvisionRequest) (apitype.ProvisionJob, error) {
	var j apitype.ProvisionJob
	if err := checkRef(req.Device); err != nil {
		return j, err
	}
	if strings.TrimSpace(req.Profile) == "" {
		return j, fmt.Errorf("provision: no profile given")
	}
	err := c.do(ctx, http.MethodPost, "/api/v1/provisions", nil, req, &j)
	return j, err
}

// ProvisionJob returns one provisioning job by id.
func (c *Client) ProvisionJob(ctx context.Context, id string) (apitype.ProvisionJob, error) {
	var j apitype.ProvisionJob
	if err := checkID("provisioning job", id); err != nil {
		return j, err
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/provisions/"+url.PathEscape(id), nil, nil, &j)
	return j, err
}

// DeviceEvents returns the lifecycle events of a device, by id or asset
// tag, from the audit log: enrolment, state changes, wipes, certificates,
// provisioning, each with its actor.
func (c *Client) DeviceEvents(ctx context.Context, ref string) ([]apitype.Event, error) {
	if err := checkRef(ref); err != nil {
		return nil, err
	}
	evs := []apitype.Event{}
	if err := c.do(ctx, http.MethodGet, "/api/v1/devices/"+url.PathEscape(ref)+"/events", nil, nil, &evs); err != nil {
		return nil, err
	}
	return nonNil(evs), nil
}

func checkID(what, id string) error {
	if strings.TrimSpace(id) == "" {
		return fmt.Errorf("%s id is empty", what)
	}
	return nil
}

// nonNil turns the null a server may answer for an empty list into an
// empty slice.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
