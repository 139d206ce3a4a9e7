package cost

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/mirage-go/mirage/backend"
)

// Record is the model's input: Count GEMMs of one layer and role with the
// same shape C(M×N) = A(M×K)·B(K×N). It does not depend on how the calls
// were observed (a recorder, a backend's counters, a file).
type Record struct {
	Layer string       `json:"layer"`
	Role  backend.Role `json:"-"`
	M     int          `json:"m"`
	N     int          `json:"n"`
	K     int          `json:"k"`
	Count int64        `json:"count"`
	// TileOutputs is the number of tile dot products the calls computed
	// (tiles·M·N per call, with the tile length of the run) and
	// LiveTileOutputs those without a zero block, which the hardware reads
	// out; the rest are skipped. Both zero means unknown: every tile is
	// taken as live.
	TileOutputs     int64 `json:"tile_outputs,omitempty"`
	LiveTileOutputs int64 `json:"live_tile_outputs,omitempty"`
	// FP32 marks a layer the run kept in FP32 (--fp32-layers): on Mirage
	// its GEMMs run on the digital host, not on the photonic core.
	FP32 bool `json:"fp32,omitempty"`
}

// MACs returns the multiply-accumulates of the record's calls.
func (r Record) MACs() float64 { return float64(r.M) * float64(r.N) * float64(r.K) * float64(r.Count) }

// LiveFraction returns the share of tile outputs that are read out, in
// [0, 1]; 1 when unknown.
func (r Record) LiveFraction() float64 {
	if r.TileOutputs <= 0 {
		return 1
	}
	return math.Min(1, math.Max(0, float64(r.LiveTileOutputs)/float64(r.TileOutputs)))
}

// Validate refuses shapes the model cannot price.
func (r Record) Validate() error {
	const limit = 1 << 40
	if r.M < 0 || r.N < 0 || r.K < 0 || r.Count < 0 || r.TileOutputs < 0 || r.LiveTileOutputs < 0 {
		return fmt.Errorf("%s/%s: negative count in GEMM record", r.Layer, r.Role)
	}
	if float64(r.M)*float64(r.N) > limit || float64(r.M)*float64(r.K) > limit || float64(r.K)*float64(r.N) > limit {
		return fmt.Errorf("%s/%s: GEMM %dx%dx%d too large", r.Layer, r.Role, r.M, r.N, r.K)
	}
	if r.LiveTileOutputs > r.TileOutputs {
		return fmt.Errorf("%s/%s: %d live tile outputs of %d", r.Layer, r.Role, r.LiveTileOutputs, r.TileOutputs)
	}
	return nil
}

// Workload is what a model prices: the GEMM records of some training
// steps, the number format they ran in, and the non-GEMM work.
type Workload struct {
	// Records are the GEMMs, in a stable order.
	Records []Record
	// Format is the number format of the run (moduli, mantissa bits,
	// tile); nil means the Mirage hardware's own. The systolic model
	// ignores it.
	Format *Format
	// NonGEMM is the digital FP32 work outside the GEMMs.
	NonGEMM NonGEMM
	// Steps is the number of training steps the records cover (for
	// per-step figures); 0 when unknown.
	Steps int64
}

// NonGEMM is the work of a training step outside the matrix products:
// elementwise operations (activations, normalisation, softmax, loss,
// their gradients) and the optimizer update. Both accelerators run it on
// the same digital FP32 host, so it adds the same to both; it is counted
// and stated separately, never hidden.
type NonGEMM struct {
	// Ops is the number of FP32 operations.
	Ops float64 `json:"ops"`
	// How it was estimated.
	Basis string `json:"basis"`
}

// Per-element operation counts of the non-GEMM estimate. They are
// estimates, not measurements: a forward GEMM output element meets a bias
// add, a normalisation (about 4 operations forward, 6 backward) and an
// activation (1 forward, 1 backward), so about 12 operations in forward
// and backward together; an SGD step with momentum and weight decay does
// about 6 operations per parameter and AdamW about 15.
const (
	OpsPerForwardOutput = 12
	OpsPerParamSGD      = 6
	OpsPerParamAdamW    = 15
)

// EstimateNonGEMM estimates the non-GEMM operations of the steps the
// records cover: OpsPerForwardOutput per element of every forward GEMM
// output, plus opsPerParam per parameter per step.
func EstimateNonGEMM(records []Record, params int64, steps int64, opsPerParam float64) NonGEMM {
	var outputs float64
	for _, r := range records {
		if r.Role == backend.Forward {
			outputs += float64(r.M) * float64(r.N) * float64(r.Count)
		}
	}
	return NonGEMM{
		Ops: OpsPerForwardOutput*outputs + opsPerParam*float64(params)*float64(steps),
		Basis: fmt.Sprintf("estimate: %d FP32 ops per forward GEMM output element (%.3g elements) + %g per parameter per step (%d parameters, %d steps)",
			OpsPerForwardOutput, outputs, opsPerParam, params, steps),
	}
}

// FromShapes turns a backend's per-shape counts into records.
func FromShapes(shapes []backend.LiveShapeCount) []Record {
	out := make([]Record, len(shapes))
	for i, s := range shapes {
		out[i] = Record{Layer: s.Layer, Role: s.Role, M: s.M, N: s.N, K: s.K, Count: s.Calls,
			TileOutputs: s.TileOutputs, LiveTileOutputs: s.LiveTileOutputs, FP32: s.FP32}
	}
	return out
}

// Sub returns the records of after that are not in before: the calls made
// between two snapshots of cumulative counts (for per-epoch costs).
func Sub(after, before []Record) []Record {
	type key struct {
		layer   string
		role    backend.Role
		m, n, k int
	}
	prev := map[key]Record{}
	for _, r := range before {
		prev[key{r.Layer, r.Role, r.M, r.N, r.K}] = r
	}
	var out []Record
	for _, r := range after {
		p := prev[key{r.Layer, r.Role, r.M, r.N, r.K}]
		r.Count -= p.Count
		r.TileOutputs -= p.TileOutputs
		r.LiveTileOutputs -= p.LiveTileOutputs
		if r.Count > 0 {
			out = append(out, r)
		}
	}
	return out
}

// Merge adds records of the same layer, role and shape together: the
// inverse of Sub. The result is sorted by layer, role and shape.
func Merge(sets ...[]Record) []Record {
	type key struct {
		layer   string
		role    backend.Role
		m, n, k int
	}
	sum := map[key]*Record{}
	var keys []key
	for _, set := range sets {
		for _, r := range set {
			k := key{r.Layer, r.Role, r.M, r.N, r.K}
			if sum[k] == nil {
				c := r
				c.Count, c.TileOutputs, c.LiveTileOutputs = 0, 0, 0
				sum[k] = &c
				keys = append(keys, k)
			}
			t := sum[k]
			t.Count += r.Count
			t.TileOutputs += r.TileOutputs
			t.LiveTileOutputs += r.LiveTileOutputs
			t.FP32 = t.FP32 || r.FP32
		}
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.layer, b.layer), cmp.Compare(a.role, b.role), cmp.Compare(a.m, b.m), cmp.Compare(a.n, b.n), cmp.Compare(a.k, b.k))
	})
	out := make([]Record, len(keys))
	for i, k := range keys {
		out[i] = *sum[k]
	}
	return out
}

// recordJSON is Record with its role as text.
type recordJSON struct {
	Layer           string `json:"layer"`
	Role            string `json:"role"`
	M               int    `json:"m"`
	N               int    `json:"n"`
	K               int    `json:"k"`
	Count           int64  `json:"count"`
	TileOutputs     int64  `json:"tile_outputs,omitempty"`
	LiveTileOutputs int64  `json:"live_tile_outputs,omitempty"`
	FP32            bool   `json:"fp32,omitempty"`
}

// MarshalJSON writes the role as forward, dX or dW.
func (r Record) MarshalJSON() ([]byte, error) {
	return json.Marshal(recordJSON{r.Layer, r.Role.String(), r.M, r.N, r.K, r.Count, r.TileOutputs, r.LiveTileOutputs, r.FP32})
}

// UnmarshalJSON reads what MarshalJSON writes and validates it.
func (r *Record) UnmarshalJSON(data []byte) error {
	var j recordJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	role, err := backend.ParseRole(j.Role)
	if err != nil {
		return err
	}
	*r = Record{j.Layer, role, j.M, j.N, j.K, j.Count, j.TileOutputs, j.LiveTileOutputs, j.FP32}
	return r.Validate()
}
