package server

import "testing"

func TestAgentHost(t *testing.T) {
	tests := []struct {
		name, mqtt, public, want string
	}{
		{"loopback", "127.0.0.1:1883", "http://127.0.0.1:8080", "127.0.0.1:1883"},
		{"every IPv4 interface", "0.0.0.0:1883", "http://valise.example:8080", "valise.example:1883"},
		{"every IPv6 interface", "[::]:1883", "https://valise.example", "valise.example:1883"},
		{"no host", ":1883", "http://10.0.0.5:8080", "10.0.0.5:1883"},
		{"one interface", "192.168.1.10:1883", "http://valise.example:8080", "192.168.1.10:1883"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := agentHost(tt.mqtt, tt.public); got != tt.want {
				t.Errorf("agentHost(%q, %q) = %q, want %q", tt.mqtt, tt.public, got, tt.want)
			}
		})
	}
}
