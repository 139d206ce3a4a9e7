//go:build race

package conv

// raceEnabled reports a -race build, in which sync.Pool (under the GEMM)
// drops items at random on purpose, so allocation counts are meaningless.
const raceEnabled = true
