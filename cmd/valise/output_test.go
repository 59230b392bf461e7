package main

import (
	"testing"
	"time"
)

func TestSpanAndAgo(t *testing.T) {
	now := time.Date(2026, 11, 23, 14, 30, 0, 0, time.UTC)
	e := &env{now: func() time.Time { return now }, loc: time.UTC}
	at := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	tests := []struct {
		name string
		t    *time.Time
		want string
	}{
		{"never", nil, "never"},
		{"zero time", &time.Time{}, "never"},
		{"seconds", at(20 * time.Second), "just now"},
		{"clock ahead of ours", at(-time.Minute), "just now"},
		{"minutes", at(2*time.Minute + 59*time.Second), "2 min ago"},
		{"hours", at(5 * time.Hour), "5 h ago"},
		{"a day and a half", at(36 * time.Hour), "36 h ago"},
		{"days", at(3*24*time.Hour + time.Hour), "3 d ago"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.ago(tt.t); got != tt.want {
				t.Errorf("ago = %q, want %q", got, tt.want)
			}
		})
	}
	if got := e.until(now.Add(24 * time.Hour)); got != "in 24 h" {
		t.Errorf("until(+24h) = %q, want %q", got, "in 24 h")
	}
	if got := e.until(now.Add(-time.Second)); got != "expired" {
		t.Errorf("until(-1s) = %q, want expired", got)
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"24h", 24 * time.Hour, true},
		{"90m", 90 * time.Minute, true},
		{"7d", 7 * 24 * time.Hour, true},
		{"1.5d", 36 * time.Hour, true},
		{"2w", 14 * 24 * time.Hour, true},
		{"d", 0, false},
		{"-1d", 0, false},
		{"soon", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseDuration(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("parseDuration(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestSizes(t *testing.T) {
	tests := []struct {
		name    string
		bytes   uint64
		gb, gib string
	}{
		{"256 GB NVMe", 256060514304, "256.1 GB", "238.5 GiB"},
		{"16 GiB RAM", 16 << 30, "17.2 GB", "16.0 GiB"},
		{"2 TB disk", 2000398934016, "2.0 TB", "1.8 TiB"},
		{"small", 512 << 20, "536.9 MB", "512.0 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := gb(tt.bytes); got != tt.gb {
				t.Errorf("gb(%d) = %q, want %q", tt.bytes, got, tt.gb)
			}
			if got := gib(tt.bytes); got != tt.gib {
				t.Errorf("gib(%d) = %q, want %q", tt.bytes, got, tt.gib)
			}
		})
	}
}

func TestSparkline(t *testing.T) {
	tests := []struct {
		name   string
		values []float64
		width  int
		want   string
	}{
		{"empty", nil, 8, ""},
		{"flat", []float64{5, 5, 5}, 8, "▁▁▁"},
		{"rising", []float64{0, 1, 2, 3, 4, 5, 6, 7}, 8, "▁▂▃▄▅▆▇█"},
		{"keeps the last values", []float64{100, 0, 7}, 2, "▁█"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sparkline(tt.values, tt.width); got != tt.want {
				t.Errorf("sparkline = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestVendorModel(t *testing.T) {
	tests := []struct{ vendor, model, want string }{
		{"LENOVO", "ThinkPad T480", "LENOVO ThinkPad T480"},
		{"HP", "HP EliteBook 840 G5", "HP EliteBook 840 G5"},
		{"", "E5576", "E5576"},
		{"Samsung", "", "Samsung"},
	}
	for _, tt := range tests {
		if got := vendorModel(tt.vendor, tt.model); got != tt.want {
			t.Errorf("vendorModel(%q, %q) = %q, want %q", tt.vendor, tt.model, got, tt.want)
		}
	}
}
