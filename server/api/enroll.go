package api

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/fleet"
)

// enroll answers POST /api/v1/enroll: the token is in the body, no bearer.
func (a *API) enroll(w http.ResponseWriter, r *http.Request) {
	var req wire.EnrollRequest
	if err := decode(w, r, MaxEnrollBody, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	en, err := a.cfg.Fleet.Enroll(req)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	d := en.Device
	writeJSON(w, http.StatusOK, wire.EnrollResponse{
		DeviceID:    d.ID,
		AssetTag:    d.AssetTag,
		Class:       d.Class,
		Known:       en.Known,
		MQTTURL:     a.cfg.MQTTURL,
		TopicPrefix: a.topicPrefix(),
		Username:    en.Username,
		Password:    en.Password,
		CommandKey:  base64.StdEncoding.EncodeToString(a.cfg.CommandKey.Public().(ed25519.PublicKey)),
		Config:      a.cfg.AgentConfig,
		CACert:      string(a.cfg.CACert),
	})
}

func (a *API) topicPrefix() string {
	if a.cfg.Topics.Prefix == "" {
		return wire.DefaultPrefix
	}
	return strings.TrimSuffix(a.cfg.Topics.Prefix, "/")
}

// createEnrollToken answers POST /api/v1/enroll-tokens with the token, shown
// once, and the join command that uses it.
func (a *API) createEnrollToken(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	var req apitype.EnrollTokenRequest
	if err := decode(w, r, MaxBody, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	spec := fleet.TokenSpec{Class: req.Class, Uses: req.Uses, Kit: req.Kit, Venue: req.Venue}
	if req.Expires != "" {
		d, err := parseDuration(req.Expires)
		if err != nil {
			a.fail(w, r, fmt.Errorf("%w: expires: %v", errBadRequest, err))
			return
		}
		spec.TTL = d
	}
	t, secret, err := a.cfg.Fleet.CreateEnrollToken(p, spec)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.log.Info("enrolment token created", "id", t.ID, "class", t.Class, "uses", t.Uses, "by", p.Name)
	writeJSON(w, http.StatusCreated, apitype.EnrollToken{
		ID: t.ID, Token: secret, Class: t.Class, Uses: t.Uses, Used: t.Used, ExpiresAt: t.ExpiresAt,
		Join: a.join(secret),
	})
}

// join is the command that enrols a device with the token secret, pinning
// the server's CA when it speaks TLS.
func (a *API) join(secret string) string {
	cmd := "valise-agent enroll --server " + a.cfg.PublicURL + " --token " + secret
	if a.caPin != "" {
		cmd += " --ca-pin " + a.caPin
	}
	return cmd
}

// caCert answers GET /api/v1/ca.crt with the PEM agents pin.
func (a *API) caCert(w http.ResponseWriter, r *http.Request) {
	if len(a.cfg.CACert) == 0 {
		a.fail(w, r, fmt.Errorf("%w: this server does not speak TLS", errNoRoute))
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Write(a.cfg.CACert)
}

// caPin returns the --ca-pin of a PEM certificate.
func caPin(certPEM []byte) (string, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return "", errors.New("no CERTIFICATE PEM block")
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return "", err
	}
	return wire.CAPin(block.Bytes), nil
}

// parseDuration reads a Go duration or a whole number of days ("7d").
func parseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 3650 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 24h or 7d", s)
	}
	return d, nil
}
