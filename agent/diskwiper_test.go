package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/valise-numerique/valise/internal/certificate"
	"github.com/valise-numerique/valise/internal/wire"
)

// sysTree writes a /sys/block fixture: name -> (size in sectors, removable).
func sysTree(t *testing.T, disks map[string][2]string) string {
	t.Helper()
	root := t.TempDir()
	for name, v := range disks {
		dir := filepath.Join(root, "sys/block", name)
		if err := os.MkdirAll(filepath.Join(dir, "queue"), 0o755); err != nil {
			t.Fatal(err)
		}
		for file, content := range map[string]string{"size": v[0], "removable": v[1], "queue/rotational": "0"} {
			if err := os.WriteFile(filepath.Join(dir, file), []byte(content+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

func TestDiskWiperTargets(t *testing.T) {
	root := sysTree(t, map[string][2]string{
		"nvme0n1": {"500118192", "0"}, "sda": {"976773168", "0"}, "sdb": {"60437492", "1"}, "loop0": {"2048", "0"},
	})
	w := DiskWiper{Root: root}
	tests := []struct {
		name    string
		names   []string
		want    []WipeTarget
		wantErr bool
	}{
		{"every internal disk", nil, []WipeTarget{{"nvme0n1", "/dev/nvme0n1"}, {"sda", "/dev/sda"}}, false},
		{"one by kernel name", []string{"sda"}, []WipeTarget{{"sda", "/dev/sda"}}, false},
		{"one by device path", []string{"/dev/nvme0n1"}, []WipeTarget{{"nvme0n1", "/dev/nvme0n1"}}, false},
		{"a removable disk is not internal", []string{"sdb"}, nil, true},
		{"unknown disk", []string{"sdz"}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := w.Targets(context.Background(), tc.names)
			if tc.wantErr {
				if !errors.Is(err, ErrBadArgs) {
					t.Errorf("Targets(%v) = %v, %v; want ErrBadArgs", tc.names, got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("targets (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDiskWiperWipesAFile runs package wipe's overwrite through DiskWiper
// on a file the test made.
func TestDiskWiperWipesAFile(t *testing.T) {
	disk := randomDisk(t, 3<<20)
	var phases []string
	m, err := DiskWiper{}.Wipe(context.Background(), WipeTarget{Name: "img", Path: disk}, WipeSpec{
		Job: "j", Method: wire.MethodOverwrite, Verify: wire.VerifyFull,
		Progress: func(p wire.WipeProgress) {
			if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
				phases = append(phases, p.Phase)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.Result != certificate.ResultSucceeded || m.Verification.Result != "passed" || m.Category != certificate.CategoryClear {
		t.Errorf("medium = %+v", m)
	}
	if !allZero(t, disk) {
		t.Errorf("file not zeroed")
	}
	if diff := cmp.Diff([]string{wire.PhaseProbing, wire.PhaseErasing, wire.PhaseVerifying}, phases); diff != "" {
		t.Errorf("phases (-want +got):\n%s", diff)
	}
}
