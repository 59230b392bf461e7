package store

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// DedupeWindow is how many sequence numbers below a device's highest one
// the replay window remembers. A redelivery older than that is taken for a
// duplicate: agents drain their spool in order with a few dozen messages in
// flight, so a gap of thousands never holds anything new.
const DedupeWindow = 2048

const windowWords = DedupeWindow / 64

// window is a device's anti-replay window: the highest seq seen and one bit
// per seq in (top-DedupeWindow, top], bit (seq % DedupeWindow).
type window struct {
	top  uint64
	mask [windowWords]uint64
}

// seen reports whether seq was already accepted, or is too old to tell.
func (w *window) seen(seq uint64) bool {
	if seq > w.top {
		return false
	}
	if w.top-seq >= DedupeWindow {
		return true
	}
	i := seq % DedupeWindow
	return w.mask[i/64]&(1<<(i%64)) != 0
}

// mark records seq as accepted. The caller checked seen(seq) first.
func (w *window) mark(seq uint64) {
	if seq > w.top {
		if seq-w.top >= DedupeWindow {
			w.mask = [windowWords]uint64{}
		} else {
			for s := w.top + 1; s < seq; s++ {
				i := s % DedupeWindow
				w.mask[i/64] &^= 1 << (i % 64)
			}
		}
		w.top = seq
	}
	i := seq % DedupeWindow
	w.mask[i/64] |= 1 << (i % 64)
}

// count returns how many seqs the window holds, for tests.
func (w *window) count() int {
	n := 0
	for _, m := range w.mask {
		n += bits.OnesCount64(m)
	}
	return n
}

// marshal encodes w as be64(top) followed by the mask words, big-endian.
func (w *window) marshal() []byte {
	b := make([]byte, 8+8*windowWords)
	binary.BigEndian.PutUint64(b, w.top)
	for i, m := range w.mask {
		binary.BigEndian.PutUint64(b[8+8*i:], m)
	}
	return b
}

func unmarshalWindow(b []byte) (*window, error) {
	if len(b) != 8+8*windowWords {
		return nil, fmt.Errorf("%w: replay window of %d bytes", ErrCorrupt, len(b))
	}
	w := &window{top: binary.BigEndian.Uint64(b)}
	for i := range w.mask {
		w.mask[i] = binary.BigEndian.Uint64(b[8+8*i:])
	}
	return w, nil
}
