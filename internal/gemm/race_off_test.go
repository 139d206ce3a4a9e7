//go:build !race

package gemm

// raceEnabled reports a -race build, in which sync.Pool drops items at
// random on purpose, so allocation counts are meaningless.
const raceEnabled = false
