package agent

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
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
	"github.com/valise-numerique/valise/internal/pin"
	"github.com/valise-numerique/valise/internal/wire"
)

// EnrollOptions are the inputs of Enroll.
type EnrollOptions struct {
	// Server is the base URL of the server's API: http://host:8080.
	Server string
	// Token is the enrolment token of the join command.
	Token string
	// CAPin is the join command's --ca-pin, "sha256:<hex>": an https://
	// server is then trusted only if its chain holds that certificate
	// (see ParsePin). Empty means the state dir's CA if any, else the
	// system roots.
	CAPin string
	// StateDir receives state.json, device.key and ca.crt.
	StateDir string
	// Source gives the inventory sent with the request.
	Source Source
	// AssetTag is the label a technician gives, if any; it joins the fingerprint.
	AssetTag string
	// ProvisionJob is the provisioning job whose bundle gave Token, when
	// the device enrols again at the end of a provisioning.
	ProvisionJob string
	// AgentVersion is sent to the server for its records.
	AgentVersion string
	// HTTPClient posts the request. Nil means a client with a 30 s
	// timeout trusting what CAPin says.
	HTTPClient *http.Client
	// Rand makes the device key. Nil means crypto/rand.
	Rand io.Reader
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
	if o.CAPin != "" {
		if err := ParsePin(o.CAPin); err != nil {
			return fmt.Errorf("enroll options: CAPin: %w", err)
		}
	}
	return nil
}

// maxEnrollAnswer bounds the server's answer read by Enroll.
const maxEnrollAnswer = 1 << 20

// enrollTimeout bounds an enrolment request.
const enrollTimeout = 30 * time.Second

// Enroll collects the inventory, posts it with its fingerprint, the
// device's public key and the token to the server's enrolment endpoint,
// and writes the answer to StateDir: state.json (0600), device.key (0600)
// and, when the server uses TLS, ca.crt. Enrolling again, into the same or
// a fresh state dir, is allowed: the server recognises the hardware. An
// existing device key is kept; a fresh state dir gets a new one, which the
// server records. When the device id changes, a spool left by the
// previous identity is removed, since the server would refuse its
// messages.
func Enroll(ctx context.Context, o EnrollOptions) (wire.EnrollResponse, error) {
	e, err := enroll(ctx, o)
	if err != nil {
		return e.resp, err
	}
	if old, err := LoadState(o.StateDir); err == nil && old.DeviceID != e.st.DeviceID {
		spool := filepath.Join(o.StateDir, SpoolFile)
		if err := os.Remove(spool); err != nil && !errors.Is(err, os.ErrNotExist) {
			return e.resp, fmt.Errorf("enroll: remove the previous identity's spool: %w", err)
		}
		o.Logger.Info("device id changed; previous spool removed", "old", old.DeviceID, "new", e.st.DeviceID)
	}
	if err := e.save(o.StateDir); err != nil {
		return e.resp, err
	}
	return e.resp, nil
}

// enrolment is a successful enrolment answer, not saved yet.
type enrolment struct {
	resp     wire.EnrollResponse
	st       State
	key      ed25519.PrivateKey
	keyIsNew bool
	ca       []byte // PEM to keep as ca.crt, nil for none
}

// save writes the device key (if new), the CA and the state, the state
// last: a state.json always comes with its key.
func (e enrolment) save(dir string) error {
	if e.keyIsNew {
		if err := saveDeviceKey(dir, e.key); err != nil {
			return fmt.Errorf("enroll: %w", err)
		}
	}
	if e.ca != nil {
		if err := writeFileAtomic(filepath.Join(dir, CAFile), e.ca, 0o644); err != nil {
			return fmt.Errorf("enroll: %w", err)
		}
	}
	if err := SaveState(dir, e.st); err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	return nil
}

// enroll makes the enrolment request and checks the answer, saving nothing.
func enroll(ctx context.Context, o EnrollOptions) (enrolment, error) {
	var e enrolment
	if err := o.Validate(); err != nil {
		return e, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	server := strings.TrimSuffix(o.Server, "/")
	client, pv, err := enrollClient(server, o)
	if err != nil {
		return e, err
	}
	e.key, e.keyIsNew, err = deviceKey(o.StateDir, o.Rand)
	if err != nil {
		return e, fmt.Errorf("enroll: %w", err)
	}

	inv := o.Source.Inventory(ctx)
	fp := wire.FingerprintOf(&inv)
	fp.AssetTag = o.AssetTag
	fp = fp.Normalize()
	if fp.Empty() {
		o.Logger.Warn("this device has no usable hardware identifier; re-enrolling it will create a new device")
	}
	body, err := json.Marshal(wire.EnrollRequest{
		Token: o.Token, Fingerprint: fp, Inventory: inv, AgentVersion: o.AgentVersion,
		DeviceKey:    base64.StdEncoding.EncodeToString(e.key.Public().(ed25519.PublicKey)),
		ProvisionJob: o.ProvisionJob,
	})
	if err != nil {
		return e, fmt.Errorf("enroll: %w", err)
	}
	post := func() (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, server+wire.EnrollPath, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "valise-agent/"+o.AgentVersion)
		return client.Do(req)
	}
	hr, err := post()
	if err != nil && pv != nil && errors.Is(err, pin.ErrNotInChain) {
		// The server sent its leaf alone: get the CA, match it against the
		// pin, and try again.
		if ferr := pv.Fetch(ctx, server, pin.FetchOptions{Timeout: enrollTimeout}); ferr != nil {
			if errors.Is(ferr, ErrPin) {
				return e, fmt.Errorf("enroll: %w (wrong server, or wrong join command?)", ferr)
			}
			return e, fmt.Errorf("enroll: %w", ferr)
		}
		hr, err = post()
	}
	if err != nil {
		if errors.Is(err, ErrPin) {
			return e, fmt.Errorf("enroll: %s: %w", server, err)
		}
		return e, fmt.Errorf("enroll: cannot reach the server at %s: %w", server, err)
	}
	defer hr.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(hr.Body, maxEnrollAnswer))
	if err != nil {
		return e, fmt.Errorf("enroll: read answer of %s: %w", server, err)
	}
	if hr.StatusCode != http.StatusOK {
		var eb apitype.ErrorBody
		if json.Unmarshal(answer, &eb) == nil && eb.Error.Message != "" {
			return e, fmt.Errorf("%w by %s: %s (%s)", ErrEnrollRefused, server, eb.Error.Message, eb.Error.Code)
		}
		return e, fmt.Errorf("%w by %s: HTTP %s", ErrEnrollRefused, server, hr.Status)
	}
	if err := json.Unmarshal(answer, &e.resp); err != nil {
		return e, fmt.Errorf("enroll: %w: %v", ErrBadResponse, err)
	}
	resp := e.resp
	e.st = State{
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
		CAPin:       o.CAPin,
		EnrolledAt:  o.Now().UTC(),
	}
	if err := e.st.Validate(); err != nil {
		return e, fmt.Errorf("enroll: %w: %v", ErrBadResponse, err)
	}
	e.ca, err = keptCA(resp.CACert, pv)
	if err != nil {
		return e, fmt.Errorf("enroll: %w: ca_cert: %v", ErrBadResponse, err)
	}
	if e.ca == nil && e.st.CAPin == "" {
		// Keep trusting what was trusted: a CA kept by an earlier enrolment.
		if prev, err := LoadState(o.StateDir); err == nil {
			e.st.CAPin = prev.CAPin
		}
	}
	return e, nil
}

// keptCA chooses the CA to keep in the state dir. With a pin, it is the
// pinned certificate (the one the connection was verified with), also when
// the server's answer names another one; without, the server's CACert.
func keptCA(answer string, pv *pin.Verifier) ([]byte, error) {
	if pv != nil {
		if c := pv.Anchor(); c != nil {
			return caPEM(c), nil
		}
	}
	if answer == "" {
		return nil, nil
	}
	c, err := parsePEMCert(answer)
	if err != nil {
		return nil, err
	}
	return caPEM(c), nil
}

// enrollClient returns the HTTP client of an enrolment and, when it
// checks a pin, its verifier.
func enrollClient(server string, o EnrollOptions) (*http.Client, *pin.Verifier, error) {
	if o.HTTPClient != nil {
		return o.HTTPClient, nil, nil
	}
	if strings.HasPrefix(server, "https://") && o.CAPin != "" {
		return pinnedClient(server, o.CAPin, enrollTimeout)
	}
	conf, err := keptCATLS(o.StateDir)
	if err != nil {
		return nil, nil, err
	}
	if conf != nil && strings.HasPrefix(server, "https://") {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = conf
		return &http.Client{Timeout: enrollTimeout, Transport: tr}, nil, nil
	}
	return &http.Client{Timeout: enrollTimeout}, nil, nil
}
