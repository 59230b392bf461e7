package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/wire"
)

// EnrollOptions are the inputs of Enroll.
type EnrollOptions struct {
	// Server is the base URL of the server's API: http://host:8080.
	Server string
	// Token is the enrolment token of the join command.
	Token string
	// StateDir receives state.json.
	StateDir string
	// Source gives the inventory sent with the request.
	Source Source
	// AssetTag is the label a technician gives, if any; it joins the fingerprint.
	AssetTag string
	// AgentVersion is sent to the server for its records.
	AgentVersion string
	// HTTPClient posts the request. Nil means a client with a 30 s timeout.
	HTTPClient *http.Client
	// Now stamps the state. Nil means time.Now.
	Now func() time.Time
	// Logger is told what happens. Nil means slog.Default().
	Logger *slog.Logger
}

// Validate reports the first invalid field of o.
func (o EnrollOptions) Validate() error {
	u, err := url.Parse(o.Server)
	switch {
	case o.Server == "":
		return errors.New("enroll options: Server is empty")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("enroll options: Server %q is not an http:// or https:// URL", o.Server)
	case o.Token == "":
		return errors.New("enroll options: Token is empty")
	case o.StateDir == "":
		return errors.New("enroll options: StateDir is empty")
	case o.Source == nil:
		return errors.New("enroll options: Source is nil")
	}
	return nil
}

// maxEnrollAnswer bounds the server's answer read by Enroll.
const maxEnrollAnswer = 1 << 20

// Enroll collects the inventory, posts it with its fingerprint and the
// token to the server's enrolment endpoint, and writes the answer to
// StateDir/state.json (0600). Enrolling again, into the same or a fresh
// state dir, is allowed: the server recognises the hardware. When the
// device id changes, a spool left by the previous identity is removed,
// since the server would refuse its messages.
func Enroll(ctx context.Context, o EnrollOptions) (wire.EnrollResponse, error) {
	var resp wire.EnrollResponse
	if err := o.Validate(); err != nil {
		return resp, err
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	server := strings.TrimSuffix(o.Server, "/")

	inv := o.Source.Inventory(ctx)
	fp := wire.FingerprintOf(&inv)
	fp.AssetTag = o.AssetTag
	fp = fp.Normalize()
	if fp.Empty() {
		o.Logger.Warn("this device has no usable hardware identifier; re-enrolling it will create a new device")
	}
	body, err := json.Marshal(wire.EnrollRequest{Token: o.Token, Fingerprint: fp, Inventory: inv, AgentVersion: o.AgentVersion})
	if err != nil {
		return resp, fmt.Errorf("enroll: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, server+wire.EnrollPath, bytes.NewReader(body))
	if err != nil {
		return resp, fmt.Errorf("enroll: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "valise-agent/"+o.AgentVersion)
	hr, err := o.HTTPClient.Do(req)
	if err != nil {
		return resp, fmt.Errorf("enroll: cannot reach the server at %s: %w", server, err)
	}
	defer hr.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(hr.Body, maxEnrollAnswer))
	if err != nil {
		return resp, fmt.Errorf("enroll: read answer of %s: %w", server, err)
	}
	if hr.StatusCode != http.StatusOK {
		var eb apitype.ErrorBody
		if json.Unmarshal(answer, &eb) == nil && eb.Error.Message != "" {
			return resp, fmt.Errorf("%w by %s: %s (%s)", ErrEnrollRefused, server, eb.Error.Message, eb.Error.Code)
		}
		return resp, fmt.Errorf("%w by %s: HTTP %s", ErrEnrollRefused, server, hr.Status)
	}
	if err := json.Unmarshal(answer, &resp); err != nil {
		return resp, fmt.Errorf("enroll: %w: %v", ErrBadResponse, err)
	}
	st := State{
		Server:      server,
		DeviceID:    resp.DeviceID,
		AssetTag:    resp.AssetTag,
		Class:       resp.Class,
		MQTTURL:     resp.MQTTURL,
		TopicPrefix: resp.TopicPrefix,
		Username:    resp.Username,
		Password:    resp.Password,
		CommandKey:  resp.CommandKey,
		Config:      resp.Config,
		EnrolledAt:  o.Now().UTC(),
	}
	if err := st.Validate(); err != nil {
		return resp, fmt.Errorf("enroll: %w: %v", ErrBadResponse, err)
	}
	if old, err := LoadState(o.StateDir); err == nil && old.DeviceID != st.DeviceID {
		spool := filepath.Join(o.StateDir, SpoolFile)
		if err := os.Remove(spool); err != nil && !errors.Is(err, os.ErrNotExist) {
			return resp, fmt.Errorf("enroll: remove the previous identity's spool: %w", err)
		}
		o.Logger.Info("device id changed; previous spool removed", "old", old.DeviceID, "new", st.DeviceID)
	}
	if err := SaveState(o.StateDir, st); err != nil {
		return resp, fmt.Errorf("enroll: %w", err)
	}
	return resp, nil
}
