package experiment

import (
	"math"
	"strconv"
)

// MaxSweepRows is the largest number of rows a sweep spec may expand to.
// Plan counts a grid's rows before expanding it, so a spec with a
// 1000×1000 grid is refused at once, with its size in the message, instead
// of being expanded (and validated row by row) into gigabytes of memory.
// At a few seconds per row even the limit is weeks of training.
const MaxSweepRows = 100_000

// addRows adds the number of combinations of values to n, saturating at
// math.MaxInt64 so that a grid of many long lists cannot wrap around.
func addRows(n int64, values [][]any) int64 {
	rows := int64(1)
	for _, v := range values {
		if l := int64(len(v)); l > 0 && rows > math.MaxInt64/l {
			return math.MaxInt64
		}
		rows *= int64(len(v))
	}
	if n > math.MaxInt64-rows {
		return math.MaxInt64
	}
	return n + rows
}

func rowCountText(n int64) string {
	if n == math.MaxInt64 {
		return "more than 9.2e18"
	}
	return strconv.FormatInt(n, 10)
}
