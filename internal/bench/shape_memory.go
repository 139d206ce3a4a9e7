package bench

import "github.com/mirage-go/mirage/internal/limits"

// Bytes is the memory a measurement of s holds: A (M×K), B (K×N) and two
// M×N results (the product and the reference it is checked against), all
// float32. An overflowing size is -1 (see limits.Size).
func (s Shape) Bytes() int64 {
	m, n, k := int64(s.M), int64(s.N), int64(s.K)
	return limits.Add(limits.Size(m, k, 4), limits.Size(k, n, 4), limits.Size(2, m, n, 4))
}
