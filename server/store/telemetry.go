package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/fleet"
)

// History bounds. Each (device, metric) keeps at most one point per
// HistoryResolution (a later sample of the same slot replaces the earlier
// one), at most HistoryMaxPoints points and none older than HistoryMaxAge
// before the newest; the oldest are trimmed in the transaction that adds.
const (
	HistoryResolution = time.Minute
	HistoryMaxPoints  = 2016 // a week of 5-minute reports
	HistoryMaxAge     = 7 * 24 * time.Hour
)

// Report is one accepted up message, ready to store.
type Report struct {
	Device   string
	Seq      uint64
	Kind     wire.Channel
	At       time.Time // when the agent sampled it
	Received time.Time // when the server received it
	Body     []byte    // plain JSON body of the envelope
	Figures  []Figure  // figures for the history, extracted by ingest
	// Pending keeps the body, in the same transaction, in the pending
	// events (see PendingEvents) until DonePending: an event the server
	// must act on survives a crash between its commit and the action.
	Pending bool
}

// Figure is one value of a history metric (apitype.Metric*).
type Figure struct {
	Metric string
	Value  float64
}

// Presence is a device's connection coming up or going down.
type Presence struct {
	Device string
	Online bool
	At     time.Time
}

// Summary is what the fleet list needs of a device's telemetry.
type Summary struct {
	// LastSeen is when the server last received anything from the device.
	LastSeen    time.Time
	Online      bool
	OnlineSince time.Time
	// BatteryHealth and BatteryCharge come from the newest health report
	// that had them; nil if none had.
	BatteryHealth, BatteryCharge *float64
	// Reported is when each kind of report was last received, by kind.
	Reported map[string]time.Time
}

// summaryRec is the stored form of a Summary plus bookkeeping.
type summaryRec struct {
	LastSeen      time.Time            `json:"last_seen"`
	Online        bool                 `json:"online"`
	OnlineSince   time.Time            `json:"online_since,omitzero"`
	PresenceAt    time.Time            `json:"presence_at,omitzero"`
	BatteryHealth *float64             `json:"battery_health,omitempty"`
	BatteryCharge *float64             `json:"battery_charge,omitempty"`
	BatteryAt     time.Time            `json:"battery_at,omitzero"`
	Reported      map[string]time.Time `json:"reported,omitempty"`
	Series        map[string]*series   `json:"series,omitempty"` // history kept, by metric
}

// series describes one history series, so that adding a point needs no
// cursor unless the series is due for trimming.
type series struct {
	N     int   `json:"n"`     // points held
	First int64 `json:"first"` // oldest slot, Unix ns
	Last  int64 `json:"last"`  // newest slot, Unix ns
}

// summaryView is the part of a stored summaryRec that readers need. The
// writer's bookkeeping (presence and battery times, history series) is
// left undecoded: lists and pages read hundreds of summaries, and decoding
// the series was half their cost. Its JSON names must stay those of
// summaryRec (a test compares them).
type summaryView struct {
	LastSeen      time.Time            `json:"last_seen"`
	Online        bool                 `json:"online"`
	OnlineSince   time.Time            `json:"online_since,omitzero"`
	BatteryHealth *float64             `json:"battery_health,omitempty"`
	BatteryCharge *float64             `json:"battery_charge,omitempty"`
	Reported      map[string]time.Time `json:"reported,omitempty"`
}

// decodeSummary decodes the stored summary v of device.
func decodeSummary(device string, v []byte) (Summary, error) {
	var r summaryView
	if err := json.Unmarshal(v, &r); err != nil {
		return Summary{}, fmt.Errorf("%w: summary of %s: %v", ErrCorrupt, device, err)
	}
	return Summary{
		LastSeen: r.LastSeen, Online: r.Online, OnlineSince: r.OnlineSince,
		BatteryHealth: r.BatteryHealth, BatteryCharge: r.BatteryCharge, Reported: r.Reported,
	}, nil
}

// liveView is the part of a stored summaryRec that Live needs, and
// cellView the part of a net report: an overdue-loan list reads them for
// every device of every loan.
type liveView struct {
	LastSeen      time.Time `json:"last_seen"`
	Online        bool      `json:"online"`
	BatteryHealth *float64  `json:"battery_health,omitempty"`
	BatteryCharge *float64  `json:"battery_charge,omitempty"`
}

type cellView struct {
	Cellular []struct {
		ICCID string `json:"iccid"`
	} `json:"cellular"`
}

// telemetry is the in-memory side of the telemetry buckets: the replay
// windows, loaded on first use and replaced only after a commit succeeded.
type telemetry struct {
	mu      sync.Mutex // serialises CommitReports and ResetDedupe
	windows map[string]*window
}

// CommitReports stores reports and presence changes in one write
// transaction, hence one fsync. stored[i] is false when rs[i] is a duplicate
// of an earlier (Device, Seq), in the store or earlier in rs; nothing of a
// duplicate is written. On error nothing at all is written.
//
// For each stored report it keeps the latest body of its kind (unless a
// newer one, by At, is already there), adds its figures to the history and
// updates the device's Summary. Presence changes are applied after the
// reports, in order; one older than the device's last presence change is
// ignored.
func (s *Store) CommitReports(rs []Report, presence []Presence) (stored []bool, err error) {
	s.tel.mu.Lock()
	defer s.tel.mu.Unlock()
	if s.tel.windows == nil {
		s.tel.windows = make(map[string]*window)
	}
	stored = make([]bool, len(rs))
	windows := make(map[string]*window)
	sums := make(map[string]*summaryRec)
	err = s.db.Update(func(tx *bolt.Tx) error {
		c := commit{
			tx: tx, latest: tx.Bucket(bucketLatest), history: tx.Bucket(bucketHistory),
			dedupe: tx.Bucket(bucketDedupe), summary: tx.Bucket(bucketSummary), sums: sums,
		}
		for i := range rs {
			r := &rs[i]
			if !wire.ValidDeviceID(r.Device) || r.Seq == 0 {
				return fmt.Errorf("store report %q seq %d: %w", r.Device, r.Seq, ErrInvalid)
			}
			w := windows[r.Device]
			if w == nil {
				if w, err = s.loadWindow(c.dedupe, r.Device); err != nil {
					return err
				}
				windows[r.Device] = w
			}
			if w.seen(r.Seq) {
				continue
			}
			w.mark(r.Seq)
			stored[i] = true
			if err := c.report(r); err != nil {
				return err
			}
		}
		for _, p := range presence {
			if !wire.ValidDeviceID(p.Device) {
				return fmt.Errorf("store presence of %q: %w", p.Device, ErrInvalid)
			}
			if err := c.presence(p); err != nil {
				return err
			}
		}
		for dev, w := range windows {
			if err := c.dedupe.Put([]byte(dev), w.marshal()); err != nil {
				return fmt.Errorf("put replay window of %s: %w", dev, err)
			}
		}
		for dev, sum := range sums {
			b, err := json.Marshal(sum)
			if err != nil {
				return fmt.Errorf("encode summary of %s: %w", dev, err)
			}
			if err := c.summary.Put([]byte(dev), b); err != nil {
				return fmt.Errorf("put summary of %s: %w", dev, err)
			}
			if err := putLastSeen(tx, dev, sum.LastSeen); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("commit %d reports: %w", len(rs), err)
	}
	for dev, w := range windows {
		s.tel.windows[dev] = w
	}
	return stored, nil
}

// loadWindow returns a private copy of dev's replay window, to be published
// in the cache only once the transaction commits.
func (s *Store) loadWindow(b *bolt.Bucket, dev string) (*window, error) {
	if w, ok := s.tel.windows[dev]; ok {
		cp := *w
		return &cp, nil
	}
	v := b.Get([]byte(dev))
	if v == nil {
		return &window{}, nil
	}
	w, err := unmarshalWindow(v)
	if err != nil {
		return nil, fmt.Errorf("replay window of %s: %w", dev, err)
	}
	return w, nil
}

// commit holds what one CommitReports transaction works on.
type commit struct {
	tx                               *bolt.Tx
	latest, history, dedupe, summary *bolt.Bucket
	sums                             map[string]*summaryRec
	key                              []byte // scratch for history keys
}

func (c *commit) sum(dev string) (*summaryRec, error) {
	if r, ok := c.sums[dev]; ok {
		return r, nil
	}
	r := new(summaryRec)
	if v := c.summary.Get([]byte(dev)); v != nil {
		if err := json.Unmarshal(v, r); err != nil {
			return nil, fmt.Errorf("%w: summary of %s: %v", ErrCorrupt, dev, err)
		}
	}
	c.sums[dev] = r
	return r, nil
}

func (c *commit) report(r *Report) error {
	sum, err := c.sum(r.Device)
	if err != nil {
		return err
	}
	if r.Pending {
		if err := c.tx.Bucket(bucketPending).Put(deviceKey(r.Device, be64(r.Seq)), r.Body); err != nil {
			return fmt.Errorf("put pending event of %s: %w", r.Device, err)
		}
	}
	if r.Received.After(sum.LastSeen) {
		sum.LastSeen = r.Received
	}
	if sum.Reported == nil {
		sum.Reported = make(map[string]time.Time)
	}
	if r.Received.After(sum.Reported[string(r.Kind)]) {
		sum.Reported[string(r.Kind)] = r.Received
	}

	at := unixNano(r.At)
	lk := latestKey(r.Device, r.Kind)
	if old := c.latest.Get(lk); len(old) < 8 || int64(binary.BigEndian.Uint64(old)) <= at {
		v := make([]byte, 8+len(r.Body))
		binary.BigEndian.PutUint64(v, uint64(at))
		copy(v[8:], r.Body)
		if err := c.latest.Put(lk, v); err != nil {
			return fmt.Errorf("put latest %s of %s: %w", r.Kind, r.Device, err)
		}
	}

	var health, charge *float64
	for _, f := range r.Figures {
		if math.IsNaN(f.Value) || math.IsInf(f.Value, 0) {
			continue
		}
		if err := c.point(sum, r.Device, f.Metric, r.At, f.Value); err != nil {
			return err
		}
		switch f.Metric {
		case apitype.MetricBatteryHealth:
			health = &f.Value
		case apitype.MetricBatteryCharge:
			charge = &f.Value
		}
	}
	if (health != nil || charge != nil) && !r.At.Before(sum.BatteryAt) {
		sum.BatteryHealth, sum.BatteryCharge, sum.BatteryAt = health, charge, r.At
	}
	return nil
}

// point adds one history point and trims the series to its bounds.
func (c *commit) point(sum *summaryRec, dev, metric string, at time.Time, v float64) error {
	prefix := historyPrefix(c.key[:0], dev, metric)
	slot := unixNano(at.Truncate(HistoryResolution))
	c.key = binary.BigEndian.AppendUint64(prefix, uint64(slot))
	key := c.key
	if sum.Series == nil {
		sum.Series = make(map[string]*series)
	}
	ser := sum.Series[metric]
	if ser == nil {
		ser = &series{First: slot, Last: slot - 1}
		sum.Series[metric] = ser
	}
	// A slot past the newest is new (the common case: samples come in
	// order); otherwise look.
	if slot > ser.Last || c.history.Get(key) == nil {
		ser.N++
		ser.First, ser.Last = min(ser.First, slot), max(ser.Last, slot)
	}
	var val [8]byte
	binary.BigEndian.PutUint64(val[:], math.Float64bits(v))
	if err := c.history.Put(key, val[:]); err != nil {
		return fmt.Errorf("put history %s of %s: %w", metric, dev, err)
	}
	// Trim from the oldest: past the count, or older than the age bound
	// measured from the newest point of the series.
	cutoff := ser.Last - int64(HistoryMaxAge)
	if ser.N <= HistoryMaxPoints && ser.First >= cutoff {
		return nil
	}
	cur := c.history.Cursor()
	k, _ := cur.Seek(prefix)
	for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Seek(prefix) {
		if ser.N <= HistoryMaxPoints && int64(binary.BigEndian.Uint64(k[len(prefix):])) >= cutoff {
			break
		}
		if err := cur.Delete(); err != nil {
			return fmt.Errorf("trim history %s of %s: %w", metric, dev, err)
		}
		ser.N--
	}
	if k != nil && bytes.HasPrefix(k, prefix) {
		ser.First = int64(binary.BigEndian.Uint64(k[len(prefix):]))
	}
	return nil
}

func (c *commit) presence(p Presence) error {
	sum, err := c.sum(p.Device)
	if err != nil {
		return err
	}
	if p.At.Before(sum.PresenceAt) {
		return nil
	}
	if p.Online && (!sum.Online || sum.OnlineSince.IsZero()) {
		sum.OnlineSince = p.At
	}
	if !p.Online {
		sum.OnlineSince = time.Time{}
	}
	sum.Online, sum.PresenceAt = p.Online, p.At
	if p.At.After(sum.LastSeen) {
		sum.LastSeen = p.At
	}
	return nil
}

// Summary returns the telemetry summary of device, or ErrNotFound if it
// never reported.
func (s *Store) Summary(device string) (Summary, error) {
	var sum Summary
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSummary).Get([]byte(device))
		if v == nil {
			return fmt.Errorf("summary of %s: %w", device, ErrNotFound)
		}
		var err error
		sum, err = decodeSummary(device, v)
		return err
	})
	return sum, err
}

// Summaries returns the summary of every device that ever reported, by id.
// SummariesOf returns the telemetry summaries of the given devices, read
// in one transaction; a device that never reported has none in the map.
func (s *Store) SummariesOf(devices []string) (map[string]Summary, error) {
	out := make(map[string]Summary, len(devices))
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSummary)
		for _, id := range devices {
			v := b.Get([]byte(id))
			if v == nil {
				continue
			}
			sum, err := decodeSummary(id, v)
			if err != nil {
				return err
			}
			out[id] = sum
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) Summaries() (map[string]Summary, error) {
	out := make(map[string]Summary)
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSummary).ForEach(func(k, v []byte) error {
			sum, err := decodeSummary(string(k), v)
			if err != nil {
				return err
			}
			out[string(k)] = sum
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Latest returns the newest body (by the agent's At) of device's reports of
// kind, and that At; ErrNotFound if none. The body is a copy.
func (s *Store) Latest(device string, kind wire.Channel) (body []byte, at time.Time, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketLatest).Get(latestKey(device, kind))
		if len(v) < 8 {
			return fmt.Errorf("latest %s of %s: %w", kind, device, ErrNotFound)
		}
		at = time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()
		body = bytes.Clone(v[8:])
		return nil
	})
	return body, at, err
}

// History returns device's points of metric at or after since, oldest
// first. With limit > 0 it returns only the newest limit of them.
func (s *Store) History(device, metric string, since time.Time, limit int) ([]apitype.Point, error) {
	var pts []apitype.Point
	err := s.db.View(func(tx *bolt.Tx) error {
		prefix := historyPrefix(nil, device, metric)
		from := binary.BigEndian.AppendUint64(bytes.Clone(prefix), uint64(unixNano(since)))
		cur := tx.Bucket(bucketHistory).Cursor()
		for k, v := cur.Seek(from); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
			if len(k) != len(prefix)+8 || len(v) != 8 {
				return fmt.Errorf("%w: history key %q", ErrCorrupt, k)
			}
			pts = append(pts, apitype.Point{
				At:    time.Unix(0, int64(binary.BigEndian.Uint64(k[len(prefix):]))).UTC(),
				Value: math.Float64frombits(binary.BigEndian.Uint64(v)),
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("history %s of %s: %w", metric, device, err)
	}
	if limit > 0 && len(pts) > limit {
		pts = pts[len(pts)-limit:]
	}
	return pts, nil
}

// MarkAllOffline marks every device that is online as offline at at, and
// returns how many it changed. An embedded broker that starts after a crash
// calls it first: no device is connected yet, and those still online in
// the store lost their connection with the old process.
func (s *Store) MarkAllOffline(at time.Time) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSummary)
		changed := make(map[string][]byte)
		err := b.ForEach(func(k, v []byte) error {
			var r summaryRec
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("%w: summary of %s: %v", ErrCorrupt, k, err)
			}
			if !r.Online {
				return nil
			}
			r.Online, r.OnlineSince, r.PresenceAt = false, time.Time{}, at
			nv, err := json.Marshal(&r)
			if err != nil {
				return fmt.Errorf("encode summary of %s: %w", k, err)
			}
			changed[string(k)] = nv
			return nil
		})
		if err != nil {
			return err
		}
		for k, v := range changed { // not inside ForEach: bbolt forbids it
			if err := b.Put([]byte(k), v); err != nil {
				return fmt.Errorf("put summary of %s: %w", k, err)
			}
		}
		n = len(changed)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("mark devices offline: %w", err)
	}
	return n, nil
}

// ResetDedupe forgets device's replay window, so that its seq may start
// again at 1: for a device re-enrolled with a fresh agent state.
func (s *Store) ResetDedupe(device string) error {
	s.tel.mu.Lock()
	defer s.tel.mu.Unlock()
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDedupe).Delete([]byte(device))
	})
	if err != nil {
		return fmt.Errorf("reset replay window of %s: %w", device, err)
	}
	delete(s.tel.windows, device)
	return nil
}

func latestKey(dev string, kind wire.Channel) []byte {
	k := make([]byte, 0, len(dev)+1+len(kind))
	k = append(k, dev...)
	k = append(k, 0)
	return append(k, kind...)
}

func historyPrefix(dst []byte, dev, metric string) []byte {
	dst = append(dst, dev...)
	dst = append(dst, 0)
	dst = append(dst, metric...)
	return append(dst, 0)
}

// unixNano returns t in Unix nanoseconds, clamped to what an int64 holds
// and to 0 for times before 1970, so that keys sort by time.
func unixNano(t time.Time) int64 {
	switch {
	case t.Year() < 1970:
		return 0
	case t.Year() > 2261:
		return math.MaxInt64
	}
	return t.UnixNano()
}

// putLastSeen copies a summary's LastSeen into bucketLastSeen, where
// lists of loans read it for many devices at once without decoding
// summaries.
func putLastSeen(tx *bolt.Tx, device string, t time.Time) error {
	if t.IsZero() {
		return nil
	}
	if err := tx.Bucket(bucketLastSeen).Put([]byte(device), be64(uint64(unixNano(t)))); err != nil {
		return fmt.Errorf("put last seen of %s: %w", device, err)
	}
	return nil
}

// LastSeen returns when each of devices was last heard from, read in one
// transaction; a device that never reported is not in the map.
func (s *Store) LastSeen(devices []string) (map[string]time.Time, error) {
	out := make(map[string]time.Time, len(devices))
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLastSeen)
		for _, id := range devices {
			v := b.Get([]byte(id))
			if v == nil {
				continue
			}
			if len(v) != 8 {
				return fmt.Errorf("last seen of %s: %w: %d bytes", id, ErrCorrupt, len(v))
			}
			out[id] = time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("last seen: %w", err)
	}
	return out, nil
}

// Live returns what device last said of itself, as daily operations need
// it (see fleet.Live): its summary and its latest connectivity report.
// A device that never reported gives the zero Live.
func (s *Store) Live(device string) (fleet.Live, error) {
	var l fleet.Live
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSummary).Get([]byte(device))
		if v == nil {
			return nil
		}
		var r liveView
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("%w: summary of %s: %v", ErrCorrupt, device, err)
		}
		l = fleet.Live{
			Reported: true, LastSeen: r.LastSeen, Online: r.Online,
			Charge: r.BatteryCharge, BatteryHealth: r.BatteryHealth,
		}
		v = tx.Bucket(bucketLatest).Get(latestKey(device, wire.ChanNet))
		if len(v) < 8 {
			return nil
		}
		var n cellView
		if err := json.Unmarshal(v[8:], &n); err != nil {
			return fmt.Errorf("%w: latest net of %s: %v", ErrCorrupt, device, err)
		}
		if len(n.Cellular) > 0 {
			sim := false
			for _, c := range n.Cellular {
				sim = sim || c.ICCID != ""
			}
			l.SIM = &sim
		}
		return nil
	})
	if err != nil {
		return fleet.Live{}, fmt.Errorf("live telemetry of %s: %w", device, err)
	}
	return l, nil
}

// hardwareView is the part of an inventory that fleet.HardwareOf reads:
// decoding only it leaves out the NICs, GPUs, memory modules and
// collector runs a full inventory carries.
type hardwareView struct {
	System struct {
		Serial string `json:"serial"`
	} `json:"system"`
	Memory struct {
		TotalBytes uint64 `json:"total_bytes"`
	} `json:"memory"`
	Disks     []wire.Disk        `json:"disks"`
	Batteries []wire.BatteryInfo `json:"batteries"`
}

// LatestHardware returns the parts of device's newest inventory that a
// check-in compares (see fleet.HardwareOf), and false when it never sent
// an inventory.
func (s *Store) LatestHardware(device string) (fleet.Hardware, bool, error) {
	var hv hardwareView
	found := false
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketLatest).Get(latestKey(device, wire.ChanInventory))
		if len(v) < 8 {
			return nil
		}
		if err := json.Unmarshal(v[8:], &hv); err != nil {
			return fmt.Errorf("%w: latest inventory of %s: %v", ErrCorrupt, device, err)
		}
		found = true
		return nil
	})
	if err != nil || !found {
		if err != nil {
			err = fmt.Errorf("latest hardware of %s: %w", device, err)
		}
		return fleet.Hardware{}, false, err
	}
	inv := wire.Inventory{Disks: hv.Disks, Batteries: hv.Batteries}
	inv.System.Serial, inv.Memory.TotalBytes = hv.System.Serial, hv.Memory.TotalBytes
	return fleet.HardwareOf(inv), true, nil
}

// The store gives daily operations their telemetry.
var _ fleet.Telemetry = (*Store)(nil)
