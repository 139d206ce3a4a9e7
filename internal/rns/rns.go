// Package rns implements the Residue Number System arithmetic of the Mirage
// accelerator: moduli sets and their presets, forward conversion, the
// Chinese Remainder Theorem (CRT) back to signed integers, redundant moduli
// (RRNS) with error detection and correction, and the phase-readout noise
// model.
//
// # Residues and the CRT
//
// For pairwise coprime moduli m_1..m_n with product M, an integer x is
// represented by its residues r_i = x mod m_i, taken non-negative. Sums and
// products act on each residue independently, which is what lets the
// hardware split one wide dot product into n narrow modular ones. The CRT
// rebuilds X = (Σ r_i·c_i) mod M with c_i = M_i·|M_i^-1|_{m_i} and
// M_i = M/m_i, then maps X in [0, M) to a signed value:
//
//	X ≥ ⌈M/2⌉  →  X - M
//
// so the signed range is [-⌊M/2⌋, ⌈M/2⌉-1]. For odd M that is the symmetric
// ±(M-1)/2; for even M (any set containing a power of two, such as
// {63,64,65}) it holds one more negative value than positive, -M/2. A dot
// product is safe when its largest possible magnitude fits both sides,
// i.e. is at most ⌊(M-1)/2⌋ ([Set.MaxMagnitude]).
//
// # Redundant moduli
//
// A [Set] may carry r redundant moduli after the n base ones, each larger
// than every base modulus and coprime to all others. A value is legitimate
// when the CRT over all n+r moduli lands in the signed range of the base
// product. Any pattern of up to r wrong residues moves the value out of that
// range (detection); up to ⌊r/2⌋ wrong residues are corrected by dropping
// subsets of moduli and keeping the legitimate value the subsets agree on.
// (The signed convention does not change these guarantees: adding ⌊M/2⌋ to
// every value maps the signed legitimate range onto the classic unsigned
// one, and residue errors commute with that shift.)
package rns

import (
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
)

// Preset returns the moduli of a named preset: special-kK is the classic
// set {2^K-1, 2^K, 2^K+1} for K = 4..8.
func Preset(name string) ([]int64, bool) {
	k, ok := strings.CutPrefix(name, "special-k")
	if !ok {
		return nil, false
	}
	n, err := strconv.Atoi(k)
	if err != nil || n < 4 || n > 8 {
		return nil, false
	}
	p := int64(1) << n
	return []int64{p - 1, p, p + 1}, true
}

// PresetNames lists the preset names.
func PresetNames() []string {
	return []string{"special-k4", "special-k5", "special-k6", "special-k7", "special-k8"}
}

// ParseModuli parses a preset name or a comma-separated list such as
// "63,64,65".
func ParseModuli(s string) ([]int64, error) {
	s = strings.TrimSpace(s)
	if m, ok := Preset(s); ok {
		return m, nil
	}
	if s == "" {
		return nil, fmt.Errorf("no moduli given: use a preset (%s) or a list such as 63,64,65", strings.Join(PresetNames(), ", "))
	}
	var out []int64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("moduli %q: %q is neither an integer nor a preset (%s)", s, f, strings.Join(PresetNames(), ", "))
		}
		out = append(out, v)
	}
	return out, nil
}

// Status says what the decoder did with a set of residues.
type Status int

const (
	// Clean: the residues were consistent (legitimate); nothing was changed.
	Clean Status = iota
	// Corrected: the residues were inconsistent and the decoder found the
	// value a majority of moduli subsets agree on.
	Corrected
	// Uncorrectable: the residues were inconsistent and no unique
	// legitimate value could be recovered.
	Uncorrectable
)

func (s Status) String() string {
	switch s {
	case Clean:
		return "clean"
	case Corrected:
		return "corrected"
	case Uncorrectable:
		return "uncorrectable"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// basis is the CRT over a subset of the moduli.
type basis struct {
	idx []int   // positions in Set.moduli
	m   int64   // product of those moduli
	c   []int64 // CRT coefficients, aligned with idx
}

func newBasis(moduli []int64, idx []int) basis {
	b := basis{idx: idx, m: 1, c: make([]int64, len(idx))}
	for _, i := range idx {
		b.m *= moduli[i]
	}
	for k, i := range idx {
		mi := b.m / moduli[i]
		inv := new(big.Int).ModInverse(big.NewInt(mi%moduli[i]), big.NewInt(moduli[i]))
		b.c[k] = mi * inv.Int64() % b.m
	}
	return b
}

// crt returns X = (Σ r_i·c_i) mod m in [0, m). Set validation keeps the
// sum below 2^63.
func (b *basis) crt(res []int64) int64 {
	var x int64
	for k, i := range b.idx {
		x += res[i] * b.c[k]
	}
	return x % b.m
}

// Signed maps x in [0, m) to the signed range [-⌊m/2⌋, ⌈m/2⌉-1].
func Signed(x, m int64) int64 {
	if x >= (m+1)/2 {
		return x - m
	}
	return x
}

// Set is a validated moduli set with optional redundant moduli. It is
// immutable and safe for concurrent use.
type Set struct {
	moduli []int64 // base moduli, then redundant ones
	base   int
	all    basis
	// drops[s-1] holds the bases that leave out s moduli, for the
	// correction of up to ⌊r/2⌋ errors.
	drops    [][]basis
	lo, hi   int64 // legitimate signed range
	baseProd int64
}

// MaxModulus is the largest modulus accepted: residues of at most 16 bits,
// far beyond what a phase readout resolves.
const MaxModulus = 1 << 16

// maxProduct bounds M·Σm_i so that the CRT sum fits in an int64.
const maxProduct = 1 << 62

// NewSet validates base and redundant moduli and precomputes the CRT.
func NewSet(base, redundant []int64) (*Set, error) {
	if len(base) == 0 {
		return nil, fmt.Errorf("empty moduli set: give at least one modulus, e.g. --rns-moduli 63,64,65")
	}
	all := append(slices.Clone(base), redundant...)
	for _, m := range all {
		if m < 2 || m > MaxModulus {
			return nil, fmt.Errorf("modulus %d is outside [2, %d] (%d-bit residues are the most this emulator handles)", m, MaxModulus, 16)
		}
	}
	for i := range all {
		for j := i + 1; j < len(all); j++ {
			if g := gcd(all[i], all[j]); g != 1 {
				return nil, fmt.Errorf("moduli %d and %d share the factor %d: RNS needs pairwise coprime moduli (e.g. %s = {63,64,65})", all[i], all[j], g, "special-k6")
			}
		}
	}
	maxBase := slices.Max(base)
	for _, r := range redundant {
		if r <= maxBase {
			return nil, fmt.Errorf("redundant modulus %d must be larger than every base modulus (largest %d), or RRNS cannot guarantee detection; give --rrns-redundant as a count to pick them automatically", r, maxBase)
		}
	}
	prod, sum := new(big.Int).SetInt64(1), int64(0)
	for _, m := range all {
		prod.Mul(prod, big.NewInt(m))
		sum += m
	}
	if bound := new(big.Int).Mul(prod, big.NewInt(sum)); bound.Cmp(big.NewInt(maxProduct)) >= 0 {
		return nil, fmt.Errorf("moduli %v: product %s is too large for this emulator (product × sum of moduli must stay below 2^62); use fewer or smaller moduli", all, prod)
	}
	s := &Set{moduli: all, base: len(base)}
	idx := make([]int, len(all))
	for i := range idx {
		idx[i] = i
	}
	s.all = newBasis(all, idx)
	s.baseProd = newBasis(all, idx[:len(base)]).m
	s.lo, s.hi = -(s.baseProd / 2), (s.baseProd+1)/2-1
	for drop := 1; drop <= len(redundant)/2; drop++ {
		var bases []basis
		for _, gone := range combinations(len(all), drop) {
			var keep []int
			for i := range all {
				if !slices.Contains(gone, i) {
					keep = append(keep, i)
				}
			}
			bases = append(bases, newBasis(all, keep))
		}
		s.drops = append(s.drops, bases)
	}
	return s, nil
}

// AutoRedundant returns the r smallest integers above every base modulus
// that are coprime to the base moduli and to each other: the redundant
// moduli --rrns-redundant R picks.
func AutoRedundant(base []int64, r int) []int64 {
	var out []int64
	chosen := slices.Clone(base)
	for c := slices.Max(base) + 1; len(out) < r; c++ {
		ok := true
		for _, m := range chosen {
			if gcd(c, m) != 1 {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, c)
			chosen = append(chosen, c)
		}
	}
	return out
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// combinations lists the k-element subsets of {0..n-1}.
func combinations(n, k int) [][]int {
	var out [][]int
	var rec func(start int, cur []int)
	rec = func(start int, cur []int) {
		if len(cur) == k {
			out = append(out, slices.Clone(cur))
			return
		}
		for i := start; i < n; i++ {
			rec(i+1, append(cur, i))
		}
	}
	rec(0, nil)
	return out
}

// Moduli returns all moduli, base first, then redundant.
func (s *Set) Moduli() []int64 { return slices.Clone(s.moduli) }

// Base returns the base (non-redundant) moduli.
func (s *Set) Base() []int64 { return slices.Clone(s.moduli[:s.base]) }

// Redundant returns the redundant moduli.
func (s *Set) Redundant() []int64 { return slices.Clone(s.moduli[s.base:]) }

// Len returns the number of moduli, redundant ones included.
func (s *Set) Len() int { return len(s.moduli) }

// Modulus returns the i-th modulus.
func (s *Set) Modulus(i int) int64 { return s.moduli[i] }

// BaseProduct returns M, the product of the base moduli.
func (s *Set) BaseProduct() int64 { return s.baseProd }

// Product returns the product of all moduli, redundant ones included.
func (s *Set) Product() int64 { return s.all.m }

// MaxMagnitude returns ⌊(M-1)/2⌋ for the base product M: the largest |x|
// whose sign survives the round trip, whatever the sign.
func (s *Set) MaxMagnitude() int64 { return (s.baseProd - 1) / 2 }

// Legitimate reports whether x lies in the signed range of the base moduli.
func (s *Set) Legitimate(x int64) bool { return x >= s.lo && x <= s.hi }

// Residues writes x mod m_i (non-negative) for every modulus into dst and
// returns it, grown if needed.
func (s *Set) Residues(x int64, dst []int64) []int64 {
	if cap(dst) < len(s.moduli) {
		dst = make([]int64, len(s.moduli))
	}
	dst = dst[:len(s.moduli)]
	for i, m := range s.moduli {
		dst[i] = Mod(x, m)
	}
	return dst
}

// Mod returns x mod m in [0, m).
func Mod(x, m int64) int64 {
	r := x % m
	if r < 0 {
		r += m
	}
	return r
}

// Coefficient returns c_i, the CRT coefficient of modulus i over all moduli:
// a residue error δ on modulus i moves the CRT value by δ·c_i mod M.
func (s *Set) Coefficient(i int) int64 { return s.all.c[i] }

// Shift returns the value the CRT yields when the residue of modulus i of
// x is off by delta: signed((x + δ·c_i) mod M), M the product of all moduli.
// Without redundant moduli this is the wrong value a noisy readout produces.
func (s *Set) Shift(x int64, i int, delta int64) int64 {
	m := s.all.m
	d := Mod(delta, s.moduli[i])
	// d < m_i and c_i < M, so d·c_i < M·m_i fits (validated bound).
	return Signed((Mod(x, m)+d*s.all.c[i])%m, m)
}

// Decode turns residues (one per modulus, each in [0, m_i)) back into a
// signed value. Without redundant moduli it is the plain CRT and always
// Clean. With redundant moduli it detects and corrects as the package
// documentation describes; Uncorrectable results return 0.
func (s *Set) Decode(res []int64) (int64, Status) {
	v := Signed(s.all.crt(res), s.all.m)
	if len(s.moduli) == s.base || s.Legitimate(v) {
		return v, Clean
	}
	for _, bases := range s.drops {
		votes := map[int64]int{}
		for k := range bases {
			b := &bases[k]
			if c := Signed(b.crt(res), b.m); s.Legitimate(c) {
				votes[c]++
			}
		}
		if len(votes) == 0 {
			continue
		}
		best, bestVotes, tie := int64(0), 0, false
		for c, n := range votes {
			switch {
			case n > bestVotes:
				best, bestVotes, tie = c, n, false
			case n == bestVotes:
				tie = true
			}
		}
		if tie {
			return 0, Uncorrectable
		}
		return best, Corrected
	}
	return 0, Uncorrectable
}
