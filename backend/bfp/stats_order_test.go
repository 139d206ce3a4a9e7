package bfp

import (
	"fmt"
	"testing"

	"github.com/mirage-go/mirage/backend"
)

// TestReportTotalIsDeterministic: the total's rel_err_mean is a float sum
// over layers; it must not depend on the map's iteration order, or two
// runs with the same seed differ in its last digit.
func TestReportTotalIsDeterministic(t *testing.T) {
	s := NewStats()
	for i := range 64 {
		var c Counters
		c.AddRelErr(1 / float64(3+7*i)) // values whose sum depends on the order
		s.Add(backend.Call{Layer: fmt.Sprintf("layer%02d", i)}, &c)
	}
	want := s.Report("bfp").Total.RelErrMean
	for range 50 {
		if got := s.Report("bfp").Total.RelErrMean; got != want {
			t.Fatalf("rel_err_mean %v, then %v", want, got)
		}
	}
}
