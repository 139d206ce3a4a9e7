package cost

import (
	"errors"
	"fmt"
	"math"
	"math/big"
)

// Validate checks that the moduli are pairwise coprime, at least 2, and
// that the BFP format fits them: the largest tile dot product
// h·(2^(b-1)-1)² must lie in the signed range of the moduli product M,
// floor((M-1)/2), or the RNS result would wrap.
func (f *Format) Validate() error {
	if len(f.Moduli) == 0 {
		return errors.New("moduli: at least one modulus is needed")
	}
	if len(f.Moduli)+len(f.Redundant) > 16 {
		return fmt.Errorf("moduli: %d moduli in all, at most 16", len(f.Moduli)+len(f.Redundant))
	}
	all := append(append([]int64(nil), f.Moduli...), f.Redundant...)
	for i, m := range all {
		if m < 2 || m > 1<<20 {
			return fmt.Errorf("moduli: %d is not between 2 and 2^20", m)
		}
		for _, o := range all[:i] {
			if gcd(m, o) != 1 {
				return fmt.Errorf("moduli: %d and %d are not coprime", o, m)
			}
		}
	}
	if f.Bits < 2 || f.Bits > 24 {
		return fmt.Errorf("mantissa_bits: %d is not between 2 and 24", f.Bits)
	}
	if f.Tile < 1 || f.Tile > 1<<16 {
		return fmt.Errorf("tile: %d is not between 1 and 65536", f.Tile)
	}
	prod := big.NewInt(1)
	for _, m := range f.Moduli {
		prod.Mul(prod, big.NewInt(m))
	}
	signed := new(big.Int).Sub(prod, big.NewInt(1))
	signed.Rsh(signed, 1)
	q := int64(1)<<(f.Bits-1) - 1
	need := new(big.Int).Mul(big.NewInt(int64(f.Tile)), big.NewInt(q*q))
	if need.Cmp(signed) > 0 {
		return fmt.Errorf("moduli %v (signed range ±%s) do not fit mantissa_bits %d with tile %d: tile·(2^(b-1)-1)² = %s; use a smaller tile, fewer bits or larger moduli", f.Moduli, signed, f.Bits, f.Tile, need)
	}
	return nil
}

// Count returns the number of moduli, redundant ones included: the number
// of banks, converters and readouts per tile output.
func (f *Format) Count() int { return len(f.Moduli) + len(f.Redundant) }

// ConverterBits returns ceil(log2 m): the resolution a converter needs to
// carry a residue of m.
func ConverterBits(m int64) int {
	return int(math.Ceil(math.Log2(float64(m))))
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
