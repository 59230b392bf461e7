package api

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/fleet"
	"github.com/valise-numerique/valise/server/store"
)

// History windows.
const (
	// detailHistory is the window of history a device's detail shows.
	detailHistory = 24 * time.Hour
	detailPoints  = 500
	// defaultSince and maxLimit bound the history endpoint.
	defaultSince = 24 * time.Hour
	defaultLimit = 1000
	maxLimit     = 10000
)

// listDevices answers
// GET /api/v1/devices?class=&state=&kit=&venue=&online=true&after=TAG&limit=N
// with a page of devices by asset tag (500 by default, 5000 at most). A
// full page carries the header X-Next-After: the asset tag to ask the next
// page after. kit and venue are ids or names. online filters the page
// after it is read, so a page may come out shorter than limit and still
// not be the last; X-Next-After alone says whether one follows.
func (a *API) listDevices(w http.ResponseWriter, r *http.Request, _ fleet.Principal) {
	q := r.URL.Query()
	filter := fleet.Filter{Class: q.Get("class"), State: fleet.State(q.Get("state")), After: strings.ToUpper(strings.TrimSpace(q.Get("after")))}
	if filter.Class != "" && !wire.ValidClass(filter.Class) {
		a.fail(w, r, fmt.Errorf("%w: class %q is not one of laptop, tablet, hotspot, other", errBadRequest, filter.Class))
		return
	}
	if filter.State != "" && !filter.State.Valid() {
		a.fail(w, r, fmt.Errorf("%w: state %q is not one of %v", errBadRequest, filter.State, fleet.States))
		return
	}
	var online *bool
	if q.Get("online") != "" {
		v, err := boolParam(q, "online")
		if err != nil {
			a.fail(w, r, err)
			return
		}
		online = &v
	}
	var err error
	if filter.Limit, err = limitParam(q, defaultPage, maxPage); err != nil {
		a.fail(w, r, err)
		return
	}
	n := a.newNames()
	if ref := q.Get("kit"); ref != "" {
		k, err := a.cfg.Fleet.Kit(ref)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		filter.Kit, n.kits[k.ID] = k.ID, k.Label
	}
	if ref := q.Get("venue"); ref != "" {
		v, err := a.cfg.Fleet.Venue(ref)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		filter.Venue, n.venues[v.ID] = v.ID, v.Name
	}
	devs, err := a.cfg.Fleet.Devices(filter)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if len(devs) == filter.Limit {
		w.Header().Set(HeaderNextAfter, devs[len(devs)-1].AssetTag)
	}
	out, err := a.devices(devs, n)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if online != nil {
		out = slices.DeleteFunc(out, func(d apitype.Device) bool { return d.Online != *online })
	}
	writeJSON(w, http.StatusOK, out)
}

// timeOrNil is t, or nil when t is zero.
func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// toDevice merges a fleet device with its telemetry summary.
func toDevice(d fleet.Device, s store.Summary, reported bool) apitype.Device {
	out := apitype.Device{
		ID: d.ID, AssetTag: d.AssetTag, Class: d.Class, State: string(d.State),
		Vendor: d.Vendor, Model: d.Model, Serial: d.Serial, Hostname: d.Hostname,
		EnrolledAt: d.EnrolledAt, Kit: d.Kit, Venue: d.Venue, Loan: d.Loan, HardwareChanged: d.HardwareChanged,
		Supplier: d.Supplier, PurchasedOn: timeOrNil(d.PurchasedOn), WarrantyEnd: timeOrNil(d.WarrantyEnd),
	}
	if reported {
		out.Online = s.Online
		if !s.LastSeen.IsZero() {
			t := s.LastSeen
			out.LastSeen = &t
		}
		out.BatteryHealth, out.BatteryCharge = s.BatteryHealth, s.BatteryCharge
	}
	return out
}

// device resolves the {ref} of the path.
func (a *API) device(r *http.Request) (fleet.Device, error) {
	return a.cfg.Fleet.Device(r.PathValue("ref"))
}

// showDevice answers GET /api/v1/devices/{ref} with the device, its latest
// inventory, health and net reports and the recent history of each metric.
func (a *API) showDevice(w http.ResponseWriter, r *http.Request, _ fleet.Principal) {
	d, err := a.device(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	s, err := a.cfg.Telemetry.Summary(d.ID)
	reported := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		a.fail(w, r, err)
		return
	}
	detail := apitype.DeviceDetail{Device: toDevice(d, s, reported), Reported: s.Reported}
	n := a.newNames()
	detail.KitLabel, detail.VenueName = n.kit(d.Kit), n.venue(d.Venue)
	for _, n := range d.Notes {
		detail.Notes = append(detail.Notes, apitype.Note{At: n.At, Kind: n.Kind, Text: n.Text})
	}
	latest := []struct {
		kind wire.Channel
		into any
	}{
		{wire.ChanInventory, &detail.Inventory},
		{wire.ChanHealth, &detail.Health},
		{wire.ChanNet, &detail.Net},
	}
	for _, l := range latest {
		body, _, err := a.cfg.Telemetry.Latest(d.ID, l.kind)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if err := json.Unmarshal(body, l.into); err != nil {
			// Ingest validated it; a body that no longer decodes is
			// logged and left out rather than failing the whole view.
			a.log.Error("decode latest report", "device", d.ID, "kind", l.kind, "err", err)
		}
	}
	since := a.cfg.Now().Add(-detailHistory)
	for _, m := range apitype.Metrics {
		pts, err := a.cfg.Telemetry.History(d.ID, m, since, detailPoints)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			a.fail(w, r, err)
			return
		}
		if len(pts) > 0 {
			if detail.History == nil {
				detail.History = map[string][]apitype.Point{}
			}
			detail.History[m] = pts
		}
	}
	writeJSON(w, http.StatusOK, detail)
}

// history answers GET /api/v1/devices/{ref}/history?metric=M&since=S&limit=N;
// since is an RFC 3339 time or a duration back from now ("24h", "7d").
func (a *API) history(w http.ResponseWriter, r *http.Request, _ fleet.Principal) {
	q := r.URL.Query()
	metric := q.Get("metric")
	if !slices.Contains(apitype.Metrics, metric) {
		a.fail(w, r, fmt.Errorf("%w: unknown metric %q; valid metrics: %s", errBadRequest, metric, strings.Join(apitype.Metrics, ", ")))
		return
	}
	now := a.cfg.Now()
	since := now.Add(-defaultSince)
	if s := q.Get("since"); s != "" {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			since = t
		} else if d, err := parseDuration(s); err == nil {
			since = now.Add(-d)
		} else {
			a.fail(w, r, fmt.Errorf("%w: since=%q, want an RFC 3339 time or a duration such as 24h or 7d", errBadRequest, s))
			return
		}
	}
	limit, err := parseLimit(q)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	d, err := a.device(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	pts, err := a.cfg.Telemetry.History(d.ID, metric, since, limit)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		a.fail(w, r, err)
		return
	}
	if pts == nil {
		pts = []apitype.Point{}
	}
	writeJSON(w, http.StatusOK, apitype.History{Device: d.ID, Metric: metric, Points: pts})
}

// collectAnswer is the body of a 202 from /collect.
type collectAnswer struct {
	Command   string    `json:"command"`
	Device    string    `json:"device"`
	ExpiresAt time.Time `json:"expires_at"`
}

// collect answers POST /api/v1/devices/{ref}/collect: it signs a
// collect_now command and publishes it at QoS 1 on the device's cmd topic.
// A device that is offline gets it when it reconnects, within CommandTTL.
func (a *API) collect(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	d, err := a.device(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if a.cfg.Publisher == nil {
		a.fail(w, r, fmt.Errorf("%w: no MQTT broker to send commands through", errUnavailable))
		return
	}
	id, err := a.random(8)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	nonce, err := a.random(16)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	now := a.cfg.Now().UTC()
	cmd := wire.Command{
		ID: "c" + id, Device: d.ID, Type: wire.CmdCollectNow,
		IssuedAt: now, ExpiresAt: now.Add(CommandTTL), Nonce: nonce,
	}
	payload, err := wire.SignCommand(a.cfg.CommandKey, cmd)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.cfg.Publisher.Publish(a.cfg.Topics.Device(d.ID, wire.ChanCmd), payload, false); err != nil {
		a.log.Error("publish command", "device", d.ID, "command", cmd.ID, "err", err)
		a.fail(w, r, fmt.Errorf("%w: the broker did not take the command", errUnavailable))
		return
	}
	a.log.Info("command sent", "device", d.ID, "asset_tag", d.AssetTag, "type", cmd.Type, "command", cmd.ID, "by", p.Name)
	writeJSON(w, http.StatusAccepted, collectAnswer{Command: cmd.ID, Device: d.ID, ExpiresAt: cmd.ExpiresAt})
}

func (a *API) random(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(a.cfg.Rand, b); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// parseLimit reads the limit query parameter of the history endpoint:
// defaultLimit when absent, 1 to maxLimit otherwise.
func parseLimit(q url.Values) (int, error) {
	return limitParam(q, defaultLimit, maxLimit)
}
