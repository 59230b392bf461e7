package server

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/valise-numerique/valise/provisioning"
	"github.com/valise-numerique/valise/server/api"
	"github.com/valise-numerique/valise/server/fleet"
)

// provisioner renders the provisioning profiles for the API. Hotspots get
// a fresh network name, Wi-Fi key and admin password at each provisioning
// (the rotation a wipe calls for); laptops and tablets join the kits'
// Wi-Fi given in the server's configuration.
type provisioner struct {
	set               *provisioning.Set
	wifiSSID, wifiKey string
	rand              io.Reader
}

func newProvisioner(cfg Config) (*provisioner, error) {
	var set *provisioning.Set
	var err error
	if cfg.ProfilesDir != "" {
		set, err = provisioning.LoadDir(cfg.ProfilesDir)
	} else {
		set, err = provisioning.Load()
	}
	if err != nil {
		return nil, fmt.Errorf("load provisioning profiles: %w", err)
	}
	return &provisioner{set: set, wifiSSID: cfg.KitWiFiSSID, wifiKey: cfg.KitWiFiKey, rand: rand.Reader}, nil
}

// CheckProfile renders the profile for a made-up device of the class, so
// that a profile the server cannot fill is refused before any state
// changes.
func (p *provisioner) CheckProfile(name, class string) error {
	_, err := p.render(name, api.BundleInput{
		DeviceID: "dcheck", AssetTag: "VAL-0000", Class: class, ServerURL: "http://valise.invalid",
		EnrollToken: "vet_check", ProvisionJob: "pcheck",
	})
	return err
}

// Bundle implements api.Provisioner.
func (p *provisioner) Bundle(name string, in api.BundleInput) (json.RawMessage, error) {
	b, err := p.render(name, in)
	if err != nil {
		return nil, err
	}
	return b.JSON()
}

func (p *provisioner) render(name string, in api.BundleInput) (provisioning.Bundle, error) {
	prof, err := p.set.Get(name)
	if errors.Is(err, provisioning.ErrNoProfile) {
		return provisioning.Bundle{}, fmt.Errorf("%w: no provisioning profile %q; profiles: %v", fleet.ErrNotFound, name, p.set.Names())
	}
	if err != nil {
		return provisioning.Bundle{}, err
	}
	pin := provisioning.BundleInput{
		DeviceID: in.DeviceID, AssetTag: in.AssetTag, Class: in.Class, ServerURL: in.ServerURL, CAPin: in.CAPin,
		EnrollToken: in.EnrollToken, ProvisionJob: in.ProvisionJob,
		WiFiSSID: p.wifiSSID, WiFiKey: p.wifiKey,
	}
	if prof.Class == "hotspot" {
		pin.WiFiSSID = "Valise-" + in.AssetTag
		if pin.WiFiKey, err = p.secret(15); err != nil {
			return provisioning.Bundle{}, err
		}
		if pin.AdminPassword, err = p.secret(15); err != nil {
			return provisioning.Bundle{}, err
		}
	}
	b, err := provisioning.Render(prof, pin)
	if errors.Is(err, provisioning.ErrInput) {
		if pin.WiFiSSID == "" || pin.WiFiKey == "" {
			err = fmt.Errorf("%w (is the kits' Wi-Fi set? start the server with --kit-wifi-ssid and --kit-wifi-key)", err)
		}
		return provisioning.Bundle{}, fmt.Errorf("%w: %w", fleet.ErrInvalid, err)
	}
	return b, err
}

// secret returns n random bytes as unpadded base64url: a Wi-Fi key or
// password of 4n/3 characters from a safe alphabet.
func (p *provisioner) secret(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(p.rand, b); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
