package crl

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"math/bits"
	"time"
	"unsafe"

	"github.com/mtlslb/mtlslb/internal/der"
)

// serialIndex finds a CRL's entries by serial number. It is a Robin Hood hash
// table (linear probing, slots kept in order of their home slot) whose slots
// hold the serial itself, so that a lookup, hit or miss, reads one place in
// memory: the few adjacent slots from the key's home on. At ten million
// entries every lookup is a cache and TLB miss; reading the serial from the
// CRL's DER to confirm a hit, as an index of offsets must, is a second miss
// that depends on the first, and doubles the time of a revoked lookup.
//
// A slot is 24 bytes. The key is the serial's DER INTEGER contents (minimal
// two's complement) sign-extended to 20 octets, which maps every serial of
// at most 20 octets (RFC 5280's bound) to a distinct key, negative serials
// included; the slot holds it with its first 8 octets scrambled (a keyed
// bijection that makes them a hash of the whole key, see scramble), and the
// entry's offset in CRL.raw, shifted left by one (0 marks an empty slot: no
// entry starts at offset 0). A serial longer than 20 octets, which only a
// CA that breaks RFC 5280 issues, is held as a 64-bit hash of it instead,
// flagged by the offset's low bit, and confirmed against the DER. There
// are no false positives either way.
//
// The table has no power-of-two size: slots = entries/loadFactor (plus a
// tail into which the last home slots overflow, so probing never wraps),
// which is 30 bytes per entry beyond the CRL's own bytes. Slots are pointer
// free, so the garbage collector never scans them.
type serialIndex struct {
	slots []slot
	homes uint64 // slots whose index a hash maps to; the rest is the tail
	seed  maphash.Seed
	mix   [3]uint64 // secret keys of scramble
}

// slot is one place of the index: key, then the entry's reference.
type slot struct {
	k0  uint64 // octets 0-7 of the key, big-endian, scrambled; or a long serial's hash
	k1  uint64 // octets 8-15
	k2  uint32 // octets 16-19
	ref uint32 // offset<<1 | 1 if the key is a hash of a long serial; 0 for an empty slot
}

const (
	keyOctets = 20
	// loadFactor is the share of slots in use. Robin Hood probing keeps
	// the mean displacement near 2 slots at 0.8, so a lookup reads one or
	// two cache lines.
	loadFactor = 0.8
	// maxIndexedOffset bounds offsets: the slot keeps one bit of ref for
	// the long-serial flag.
	maxIndexedOffset = 1<<31 - 1
)

// indexTail is the first tail buildIndex tries (a variable for tests).
var indexTail uint64 = 128

// errTail is buildIndex's signal to retry with a longer tail.
var errTail = errors.New("tail overflow")

// buildIndex indexes the entries at offsets in raw, a CRL's DER, and refuses
// a serial that is listed twice (its two entries could disagree).
func buildIndex(raw []byte, offsets []uint32) (serialIndex, error) {
	if len(offsets) == 0 {
		return serialIndex{}, nil
	}
	if uint64(len(raw)) > maxIndexedOffset {
		return serialIndex{}, fmt.Errorf("%d bytes is more than the %d this index can address", len(raw), maxIndexedOffset)
	}
	homes := uint64(float64(len(offsets))/loadFactor) + 1
	// Robin Hood probing keeps the longest run short (tens of slots at ten
	// million entries); a tail that is still too short is lengthened.
	for tail := indexTail; ; tail = max(8*tail, 16) {
		ix := serialIndex{slots: make([]slot, homes+tail), homes: homes, seed: maphash.MakeSeed()}
		for i := range ix.mix {
			ix.mix[i] = maphash.Bytes(ix.seed, []byte{byte(i)})
		}
		err := ix.fill(raw, offsets)
		if err != errTail {
			return ix, err
		}
	}
}

// fill inserts the entries at offsets, Robin Hood style: an entry takes the
// place of one that is nearer its home slot and carries that one on, so slots
// stay in order of their home slot.
func (ix *serialIndex) fill(raw []byte, offsets []uint32) error {
	for _, off := range offsets {
		cur, home := ix.entrySlot(raw, off)
		original := true // cur is still the entry being added, not one it displaced
		for i := home; ; i++ {
			if i >= uint64(len(ix.slots)) {
				return errTail
			}
			s := &ix.slots[i]
			if s.ref == 0 {
				*s = cur
				break
			}
			sh := ix.home(s)
			// Equal serials have equal homes, and the run of a home lies
			// before the first slot of a later home.
			if original && sh == home && sameSerial(raw, s, &cur) {
				return fmt.Errorf("serial number %X is listed twice", entrySerial(raw, off))
			}
			if sh > home {
				*s, cur = cur, *s
				home, original = sh, false
			}
		}
	}
	return nil
}

// entrySlot returns the slot of the entry at off and its home.
func (ix *serialIndex) entrySlot(raw []byte, off uint32) (slot, uint64) {
	serial := entrySerial(raw, off)
	if len(serial) > keyOctets {
		h := maphash.Bytes(ix.seed, serial)
		return slot{k0: h, ref: off<<1 | 1}, ix.place(h)
	}
	k0, k1, k2 := shortKey(serial)
	k0 = ix.scramble(k0, k1, k2)
	return slot{k0: k0, k1: k1, k2: k2, ref: off << 1}, ix.place(k0)
}

// sameSerial reports whether slots a and b hold the same serial.
func sameSerial(raw []byte, a, b *slot) bool {
	if a.k0 != b.k0 || a.k1 != b.k1 || a.k2 != b.k2 || a.ref&1 != b.ref&1 {
		return false
	}
	return a.ref&1 == 0 || bytes.Equal(entrySerial(raw, a.ref>>1), entrySerial(raw, b.ref>>1))
}

// lookup returns the offset in raw, the CRL's DER, of the entry for serial
// (DER INTEGER contents).
func (ix *serialIndex) lookup(raw, serial []byte) (uint32, bool) {
	if len(ix.slots) == 0 || len(serial) == 0 {
		return 0, false
	}
	if len(serial) > keyOctets {
		return ix.lookupLong(raw, serial)
	}
	k0, k1, k2 := shortKey(serial)
	k0 = ix.scramble(k0, k1, k2)
	home := ix.place(k0)
	for i := home; i < uint64(len(ix.slots)); i++ {
		s := &ix.slots[i]
		if s.ref == 0 {
			return 0, false
		}
		if s.k0 == k0 && s.k1 == k1 && s.k2 == k2 && s.ref&1 == 0 {
			return s.ref >> 1, true
		}
		if ix.home(s) > home {
			return 0, false // past the run of serial's home
		}
	}
	return 0, false
}

// lookupLong is lookup for a serial longer than a key.
func (ix *serialIndex) lookupLong(raw, serial []byte) (uint32, bool) {
	h := maphash.Bytes(ix.seed, serial)
	home := ix.place(h)
	for i := home; i < uint64(len(ix.slots)); i++ {
		s := &ix.slots[i]
		if s.ref == 0 {
			return 0, false
		}
		if s.ref&1 != 0 && s.k0 == h && bytes.Equal(entrySerial(raw, s.ref>>1), serial) {
			return s.ref >> 1, true
		}
		if ix.home(s) > home {
			return 0, false
		}
	}
	return 0, false
}

// shortKey sign-extends serial, at most keyOctets of minimal two's
// complement, to a key. Serials of 12 octets or more (those of CAs that
// follow the CA/Browser Forum's 64 random bits) are read in three loads.
func shortKey(serial []byte) (k0, k1 uint64, k2 uint32) {
	n := len(serial)
	var fill uint64
	if serial[0]&0x80 != 0 {
		fill = ^uint64(0)
	}
	if n >= 12 {
		k2 = binary.BigEndian.Uint32(serial[n-4:])
		k1 = binary.BigEndian.Uint64(serial[n-12 : n-4])
		// The first n-12 octets (0 to 8) are the low octets of k0; Go's
		// shifts by 64 give 0, which covers both ends.
		head := uint(n-12) * 8
		k0 = fill<<head | binary.BigEndian.Uint64(serial[:8])>>(64-head)
		return k0, k1, k2
	}
	var b [keyOctets]byte
	for i := range keyOctets - n {
		b[i] = byte(fill)
	}
	copy(b[keyOctets-n:], serial)
	return binary.BigEndian.Uint64(b[0:8]), binary.BigEndian.Uint64(b[8:16]), binary.BigEndian.Uint32(b[16:20])
}

// scramble returns the first word a slot stores for a short serial's key:
// a keyed bijection of k0 given k1 and k2, so that the slot's three words
// still tell every key apart, and a hash of the whole key, which place
// turns into the home slot. Stored scrambled, a slot's home is one
// multiplication away, which Robin Hood probing needs for every slot it
// passes. The mixing is MurmurHash3's 64-bit finalizer twice, over secret
// keys: serials that differ in a few bits (sequential ones) spread evenly,
// and an outsider cannot choose serials that share a home.
func (ix *serialIndex) scramble(k0, k1 uint64, k2 uint32) uint64 {
	return fmix64(k0 ^ ix.mix[0] ^ fmix64(k1^ix.mix[1]^uint64(k2)*ix.mix[2]))
}

// fmix64 is MurmurHash3's finalizer, a bijection that spreads every input
// bit over the output.
func fmix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	return h ^ h>>33
}

// place maps a hash to a home slot.
func (ix *serialIndex) place(h uint64) uint64 {
	hi, _ := bits.Mul64(h, ix.homes)
	return hi
}

// home returns the home slot of a slot in use: its first word is a hash,
// of a long serial or of a short serial's key (scramble).
func (ix *serialIndex) home(s *slot) uint64 {
	return ix.place(s.k0)
}

// offsets calls yield with the offset of every indexed entry, in slot order.
func (ix *serialIndex) offsets(yield func(uint32) bool) {
	for i := range ix.slots {
		if r := ix.slots[i].ref; r != 0 && !yield(r>>1) {
			return
		}
	}
}

// bytesPerEntry is the index's memory per entry, for sizing.
func (ix *serialIndex) bytesPerEntry(entries int) float64 {
	if entries == 0 {
		return 0
	}
	return float64(int(unsafe.Sizeof(slot{}))*len(ix.slots)) / float64(entries)
}

// entrySerial returns the serial number of the entry at off. Parse has
// checked the entry, so the reads cannot fail on a CRL it returned.
func entrySerial(raw []byte, off uint32) []byte {
	d := der.Reader(raw[off:])
	content, _ := d.Read(der.Sequence)
	e := der.Reader(content)
	serial, _ := e.Read(der.Integer)
	return serial
}

// revokedEntry is what Check reports of an entry.
type revokedEntry struct {
	date   time.Time
	reason int // reasonAbsent when the entry has no reasonCode
}

// entryAt decodes the entry at off.
func entryAt(raw []byte, off uint32) revokedEntry {
	d := der.Reader(raw[off:])
	content, _ := d.Read(der.Sequence)
	e := der.Reader(content)
	e.Read(der.Integer)
	date, _, _ := readTime(&e)
	r := revokedEntry{date: date, reason: reasonAbsent}
	if exts, err := e.Read(der.Sequence); err == nil {
		if info, err := parseEntryExtensions(exts); err == nil {
			r.reason = info.reason
		}
	}
	return r
}

// isRemoveFromCRL reports whether the entry at off has reason removeFromCRL,
// which in a delta CRL takes the serial off the base CRL (RFC 5280 §5.2.4).
func isRemoveFromCRL(raw []byte, off uint32) bool {
	return entryAt(raw, off).reason == reasonRemoveFromCRL
}

// certSerial returns the DER INTEGER contents of cert's serial number, read
// from its raw TBSCertificate so that it matches CRL entries byte for byte
// without a big.Int conversion.
func certSerial(rawTBS []byte) ([]byte, bool) {
	d := der.Reader(rawTBS)
	content, err := d.Read(der.Sequence)
	if err != nil {
		return nil, false
	}
	tbs := der.Reader(content)
	if _, present, err := tbs.ReadOptional(tagContextCons0); err != nil {
		return nil, false
	} else if present {
		// version [0] EXPLICIT; skipped.
	}
	serial, err := tbs.Read(der.Integer)
	if err != nil || !der.ValidInteger(serial) {
		return nil, false
	}
	return serial, true
}

// collectCertIssuers returns the certificateIssuer names of an indirect
// CRL's entries.
func collectCertIssuers(raw []byte, offsets []uint32) [][]byte {
	var names [][]byte
	for _, off := range offsets {
		d := der.Reader(raw[off:])
		content, _ := d.Read(der.Sequence)
		e := der.Reader(content)
		e.Read(der.Integer)
		readTime(&e)
		exts, err := e.Read(der.Sequence)
		if err != nil {
			continue
		}
		if info, err := parseEntryExtensions(exts); err == nil && info.certIssuer != nil {
			names = append(names, info.certIssuer)
		}
	}
	return names
}
