package collect

import "testing"

// BenchmarkPCIDB measures what an inventory spends on PCI names: parsing
// the full pci.ids of the machine running it, once per inventory run.
func BenchmarkPCIDB(b *testing.B) {
	c, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	if c.loadPCIDB() == nil {
		b.Skip("no pci.ids on this machine")
	}
	b.ReportAllocs()
	for b.Loop() {
		c.loadPCIDB()
	}
}
