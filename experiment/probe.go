package experiment

import (
	"fmt"
	"math"
	"sync"

	"github.com/mirage-go/mirage/autograd"
	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/fp32"
	"github.com/mirage-go/mirage/datasets"
	"github.com/mirage-go/mirage/train"
)

// ProbeReport is the error of each arm's backend against FP32, per layer and
// role, measured on the same GEMM inputs.
type ProbeReport struct {
	// Weights and Batch say what the model computed on.
	Weights string `json:"weights"`
	Batch   string `json:"batch"`
	// Arms are the labels of the compared backends, in column order.
	Arms []string   `json:"arms"`
	Rows []ProbeRow `json:"rows"`
	// Total aggregates every GEMM of the step, per arm.
	Total []ProbeError `json:"total"`
}

// ProbeRow is one layer and role.
type ProbeRow struct {
	Layer string `json:"layer"`
	Role  string `json:"role"`
	// Calls is the number of GEMMs of this layer and role in the step
	// (attention layers make several); M, N, K are the last one's sizes.
	Calls   int          `json:"calls"`
	M, N, K int          `json:"-"`
	Shape   string       `json:"shape"`
	Errors  []ProbeError `json:"errors"`
}

// ProbeError is one backend's error on one layer and role:
// RelErr = ‖C − C_fp32‖ / ‖C_fp32‖ over all elements of all its calls
// (Frobenius norms), and SNR = 20·log10(1/RelErr) in dB. An exact result
// has RelErr 0 and no SNR (Exact is set, the SNR is infinite).
type ProbeError struct {
	RelErr float64  `json:"rel_err"`
	SNRdB  *float64 `json:"snr_db,omitempty"`
	Exact  bool     `json:"exact,omitempty"`
	// MaxRelErr is the largest per-call relative error.
	MaxRelErr float64 `json:"max_call_rel_err"`
	// Err is set when the backend refused the GEMM.
	Err string `json:"error,omitempty"`
}

func (e ProbeError) String() string {
	switch {
	case e.Err != "":
		return "error"
	case e.Exact:
		return "exact"
	case e.SNRdB == nil:
		return fmt.Sprintf("%.2g", e.RelErr)
	}
	return fmt.Sprintf("%.2g (%.1f dB)", e.RelErr, *e.SNRdB)
}

type probeKey struct {
	layer string
	role  backend.Role
}

type probeAcc struct {
	calls   int
	m, n, k int
	diff    []float64 // Σ(C−C_ref)² per arm
	maxRel  []float64
	errs    []string
	ref     float64 // Σ C_ref²
	ordinal int
}

// probeBackend computes every GEMM in FP32, which is what the model sees,
// and on the side hands the same inputs to each candidate backend and
// accumulates how far its output is from FP32's.
type probeBackend struct {
	ref   backend.Backend
	cands []backend.Backend

	mu    sync.Mutex
	acc   map[probeKey]*probeAcc
	total probeAcc
}

func (p *probeBackend) Name() string { return "probe" }

func (p *probeBackend) MatMul(call backend.Call, g backend.GEMM) error {
	if err := g.Validate(); err != nil {
		return err
	}
	// Every backend computes the plain product op(A)·op(B) into a fresh
	// buffer: accumulation into C is FP32 work outside the accelerator.
	side := g
	side.C, side.LDC, side.Accumulate = make([]float32, g.M*g.N), g.N, false
	if err := p.ref.MatMul(call, side); err != nil {
		return err
	}
	want := side.C
	var refSq float64
	for _, v := range want {
		refSq += float64(v) * float64(v)
	}
	diffs := make([]float64, len(p.cands))
	errs := make([]string, len(p.cands))
	for i, b := range p.cands {
		side.C = make([]float32, g.M*g.N)
		if err := b.MatMul(call, side); err != nil {
			errs[i] = err.Error()
			continue
		}
		for j, v := range side.C {
			d := float64(v) - float64(want[j])
			diffs[i] += d * d
		}
	}
	p.mu.Lock()
	key := probeKey{call.Layer, call.Role}
	a := p.acc[key]
	if a == nil {
		a = newProbeAcc(len(p.cands), len(p.acc))
		p.acc[key] = a
	}
	for _, t := range []*probeAcc{a, &p.total} {
		t.calls++
		t.m, t.n, t.k = g.M, g.N, g.K
		t.ref += refSq
		for i := range p.cands {
			t.diff[i] += diffs[i]
			if refSq > 0 {
				t.maxRel[i] = math.Max(t.maxRel[i], math.Sqrt(diffs[i]/refSq))
			}
			if errs[i] != "" && t.errs[i] == "" {
				t.errs[i] = errs[i]
			}
		}
	}
	p.mu.Unlock()
	// The model itself continues on exact FP32, so every layer of every
	// candidate sees the same inputs and the errors do not compound.
	return p.ref.MatMul(call, g)
}

func newProbeAcc(backends, ordinal int) *probeAcc {
	return &probeAcc{diff: make([]float64, backends), maxRel: make([]float64, backends), errs: make([]string, backends), ordinal: ordinal}
}

func (a *probeAcc) errors() []ProbeError {
	out := make([]ProbeError, len(a.diff))
	for i, d := range a.diff {
		e := ProbeError{MaxRelErr: a.maxRel[i], Err: a.errs[i]}
		switch {
		case d == 0:
			e.Exact = true
		case a.ref > 0:
			e.RelErr = math.Sqrt(d / a.ref)
			snr := -20 * math.Log10(e.RelErr)
			e.SNRdB = &snr
		default:
			// Relative to an all-zero product every nonzero error is
			// infinitely large; say so rather than print Inf.
			e.Err = "the FP32 product is zero and this backend's is not"
		}
		out[i] = e
	}
	return out
}

// Probe measures each arm's backend against FP32 on one training step
// (forward, loss, backward: every forward, dX and dW product of the model)
// of env's model with its current weights, on the first batchSize examples
// of the test split, without augmentation. The model computes the whole
// step in FP32; each GEMM's inputs are also handed to every arm's backend,
// so each row measures that backend on exactly the inputs FP32 had. The
// model's weights are not changed (there is no optimizer step), but its
// gradients and batch-norm running statistics are; use a model built for
// the probe.
func Probe(env *train.Env, arms []Arm, batchSize int, weights string) (*ProbeReport, error) {
	var labels []string
	var cands []backend.Backend
	for _, a := range arms {
		// Built the way training builds it (a noise seed the arm does not
		// set follows the run's seed).
		armEnv := *env
		armEnv.Config.Backend, armEnv.Config.BackendOptions = a.Backend, a.Options
		b, err := armEnv.NewBackend()
		if err != nil {
			return nil, fmt.Errorf("arm %s: %w", a.Label, err)
		}
		cands = append(cands, b)
		labels = append(labels, a.Label)
	}
	return probe(env, labels, cands, batchSize, weights)
}

func probe(env *train.Env, labels []string, cands []backend.Backend, batchSize int, weights string) (*ProbeReport, error) {
	p := &probeBackend{ref: fp32.New(), cands: cands, acc: map[probeKey]*probeAcc{}}
	rep := &ProbeReport{Weights: weights, Arms: labels}
	p.total = *newProbeAcc(len(cands), 0)
	if batchSize < 1 {
		return nil, fmt.Errorf("probe batch size %d must be at least 1", batchSize)
	}
	loader := datasets.NewLoader(env.Test, batchSize, false, false, 0)
	it := loader.Epoch(0)
	batch, ok := it.Next()
	if !ok {
		it.Close()
		return nil, fmt.Errorf("the test set is empty; nothing to probe")
	}
	n := batch.N
	shape := append([]int{n}, env.Test.Shape()...)
	size := 1
	for _, d := range shape {
		size *= d
	}
	x := append([]float32(nil), batch.X[:size]...)
	targets := append([]int(nil), batch.Labels[:n]...)
	it.Close()
	rep.Batch = fmt.Sprintf("the first %d test examples, no augmentation, model in training mode", n)

	model := env.Model
	model.SetTraining(true)
	for _, prm := range model.Params() {
		prm.ZeroGrad()
	}
	tape := autograd.NewTape(p)
	logits := model.Forward(tape, autograd.New(x, shape...))
	loss := tape.CrossEntropy(logits, targets, float32(env.Config.LabelSmoothing))
	if err := tape.Backward(loss); err != nil {
		return nil, fmt.Errorf("probe step: %w", err)
	}
	rows := make([]ProbeRow, len(p.acc))
	for k, a := range p.acc {
		rows[a.ordinal] = ProbeRow{Layer: k.layer, Role: k.role.String(), Calls: a.calls, M: a.m, N: a.n, K: a.k,
			Shape: fmt.Sprintf("%d×%d×%d", a.m, a.n, a.k), Errors: a.errors()}
	}
	rep.Rows = sortProbeRows(rows)
	rep.Total = p.total.errors()
	return rep, nil
}

// sortProbeRows orders rows by the layer's first appearance (forward order)
// and then by role, so a table reads top to bottom through the network.
func sortProbeRows(rows []ProbeRow) []ProbeRow {
	order := map[string]int{}
	for _, r := range rows {
		if _, ok := order[r.Layer]; !ok {
			order[r.Layer] = len(order)
		}
	}
	out := make([]ProbeRow, 0, len(rows))
	for layer := 0; layer < len(order); layer++ {
		for _, role := range backend.Roles {
			for _, r := range rows {
				if order[r.Layer] == layer && r.Role == role.String() {
					out = append(out, r)
				}
			}
		}
	}
	return out
}
