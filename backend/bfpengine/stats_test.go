package bfpengine

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
)

// The total's float64 mean is summed in the entries' sorted order: the
// same statistics give the same report every time (a sum in Go's random
// map order differed in the last digit from run to run). The samples are
// chosen so that the order of the additions changes the sum.
func TestReportTotalIsDeterministic(t *testing.T) {
	s := NewStats()
	for i := range 40 {
		var d Counters
		d.AddRelErr(1e16 / float64(i+1))
		d.AddRelErr(0.1 * float64(i+3))
		s.Add(backend.Call{Layer: fmt.Sprintf("layer%02d", i), Role: backend.Role(i % 3)}, &d)
	}
	first := s.Report("bfp").Total
	for range 50 {
		require.Equal(t, first, s.Report("bfp").Total)
	}
}
