package bfpengine

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/mirage-go/mirage/backend"
)

// Counters are the statistics of one layer and role. Counts that a backend
// does not produce stay zero and are left out of the JSON.
type Counters struct {
	// Calls counts GEMMs; FP32 marks layers kept in FP32 (--fp32-layers).
	Calls int64 `json:"gemm_calls"`
	FP32  bool  `json:"fp32,omitempty"`
	// TileOutputs counts tile dot products (tiles × M × N); Readouts counts
	// converter readouts (for RNS: tile outputs without a zero block × moduli).
	TileOutputs int64 `json:"tile_outputs"`
	Readouts    int64 `json:"readouts"`
	// ResidueErrors counts wrong residue readouts; TilesHit the tile
	// outputs with at least one.
	ResidueErrors int64 `json:"residue_errors,omitempty"`
	TilesHit      int64 `json:"tiles_with_errors,omitempty"`
	// RRNS outcomes of the tiles hit: Detected were flagged as
	// inconsistent; of those, Corrected got their true value back,
	// Miscorrected a wrong one, Erased none (the tile contributes 0).
	// Undetected were wrong and not flagged.
	Detected     int64 `json:"rrns_detected,omitempty"`
	Corrected    int64 `json:"rrns_corrected,omitempty"`
	Miscorrected int64 `json:"rrns_miscorrected,omitempty"`
	Erased       int64 `json:"rrns_erased,omitempty"`
	Undetected   int64 `json:"undetected,omitempty"`
	// ADCClipped counts analog readouts that saturated the converter.
	ADCClipped int64 `json:"adc_clipped,omitempty"`
	// NonFinite counts operand blocks that held Inf or NaN (their outputs
	// are NaN, as in FP32; the training loop reports the divergence).
	NonFinite int64 `json:"nonfinite_blocks,omitempty"`
	// Relative error ‖C - C_fp32‖/‖C_fp32‖ (Frobenius) on sampled calls.
	Samples    int64   `json:"rel_err_samples"`
	RelErrMean float64 `json:"rel_err_mean"`
	RelErrMax  float64 `json:"rel_err_max"`

	relErrSum float64
}

func (c *Counters) add(d *Counters) {
	c.Calls += d.Calls
	c.FP32 = c.FP32 || d.FP32
	c.TileOutputs += d.TileOutputs
	c.Readouts += d.Readouts
	c.ResidueErrors += d.ResidueErrors
	c.TilesHit += d.TilesHit
	c.Detected += d.Detected
	c.Corrected += d.Corrected
	c.Miscorrected += d.Miscorrected
	c.Erased += d.Erased
	c.Undetected += d.Undetected
	c.ADCClipped += d.ADCClipped
	c.NonFinite += d.NonFinite
	c.Samples += d.Samples
	c.relErrSum += d.relErrSum
	c.RelErrMax = max(c.RelErrMax, d.RelErrMax)
	if c.Samples > 0 {
		c.RelErrMean = c.relErrSum / float64(c.Samples)
	}
}

// AddRelErr records one relative-error sample.
func (c *Counters) AddRelErr(e float64) {
	c.Samples++
	c.relErrSum += e
	c.RelErrMax = max(c.RelErrMax, e)
	c.RelErrMean = c.relErrSum / float64(c.Samples)
}

// Entry is the statistics of one layer and role.
type Entry struct {
	Layer string `json:"layer"`
	Role  string `json:"role"`
	Counters
}

// Report is a snapshot of a backend's statistics, per layer and role and
// in total, which is also their JSON form in summary.json's
// backend_stats. The bfp, rns and analog backends' Stats return one.
type Report struct {
	Backend string   `json:"backend"`
	Entries []Entry  `json:"per_layer"`
	Total   Counters `json:"total"`
}

// Stats accumulates Counters per layer and role. It is safe for concurrent
// use, so a progress display may read it while training runs.
type Stats struct {
	mu     sync.Mutex
	per    map[backend.Call]*Counters
	shapes map[shapeKey]*shapeTally // see shapes.go
}

// NewStats returns empty statistics.
func NewStats() *Stats { return &Stats{per: map[backend.Call]*Counters{}} }

// Calls returns the number of GEMMs recorded so far for call.
func (s *Stats) Calls(call backend.Call) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.per[call]; c != nil {
		return c.Calls
	}
	return 0
}

// Add merges d into the counters of call.
func (s *Stats) Add(call backend.Call, d *Counters) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.per[call]
	if c == nil {
		c = &Counters{}
		s.per[call] = c
	}
	c.add(d)
}

// Report returns a snapshot, sorted by layer and role.
func (s *Stats) Report(backendName string) *Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &Report{Backend: backendName, Entries: []Entry{}}
	for call, c := range s.per {
		r.Entries = append(r.Entries, Entry{Layer: call.Layer, Role: call.Role.String(), Counters: *c})
	}
	sort.Slice(r.Entries, func(i, j int) bool {
		a, b := r.Entries[i], r.Entries[j]
		if a.Layer != b.Layer {
			return a.Layer < b.Layer
		}
		ra, _ := backend.ParseRole(a.Role)
		rb, _ := backend.ParseRole(b.Role)
		return ra < rb
	})
	// Summed in the sorted order, not the map's random one, so that the
	// floating-point total is the same in every run.
	for i := range r.Entries {
		r.Total.add(&r.Entries[i].Counters)
	}
	r.Total.FP32 = false
	return r
}

// ErrorStats returns the totals over all layers and roles. It is the
// capability through which experiment reads a backend's error statistics
// (any report with an ErrorStats method gets them into its tables); nil
// for a nil report.
func (r *Report) ErrorStats() *Counters {
	if r == nil {
		return nil
	}
	return &r.Total
}

// Summary renders a report as a short table: one line per layer and role,
// then the total.
func (r *Report) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s backend: %d GEMMs, %d tile outputs, %d readouts", r.Backend, r.Total.Calls, r.Total.TileOutputs, r.Total.Readouts)
	if r.Total.ResidueErrors > 0 || r.Total.TilesHit > 0 {
		fmt.Fprintf(&b, ", %d residue errors in %d tiles", r.Total.ResidueErrors, r.Total.TilesHit)
	}
	if r.Total.Detected > 0 {
		fmt.Fprintf(&b, " (RRNS: %d detected, %d corrected, %d miscorrected, %d erased)", r.Total.Detected, r.Total.Corrected, r.Total.Miscorrected, r.Total.Erased)
	}
	if r.Total.Undetected > 0 {
		fmt.Fprintf(&b, ", %d undetected", r.Total.Undetected)
	}
	if r.Total.ADCClipped > 0 {
		fmt.Fprintf(&b, ", %d ADC clips", r.Total.ADCClipped)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "  %-24s %-7s %8s %12s %8s %10s %10s\n", "layer", "role", "gemms", "readouts", "errors", "relerr", "max")
	for _, e := range r.Entries {
		mode := ""
		if e.FP32 {
			mode = " (fp32)"
		}
		fmt.Fprintf(&b, "  %-24s %-7s %8d %12d %8d %10.3g %10.3g%s\n", e.Layer, e.Role, e.Calls, e.Readouts, e.ResidueErrors+e.ADCClipped, e.RelErrMean, e.RelErrMax, mode)
	}
	return b.String()
}
