// Package backend defines the one interface every matrix product in mirage
// goes through, and a registry that builds backends by name.
//
// A training step of a dense or convolutional layer performs three GEMMs:
// the forward product Y = X·Wᵀ, the input gradient dX = dY·W and the weight
// gradient dW = dYᵀ·X. Each call carries a [Call] tag naming the layer and
// the [Role], so an emulated accelerator can be configured per role or per
// layer (for example: keep the first layer in FP32, add noise only in the
// forward pass) and report statistics at that granularity.
//
// Backends are plain values chosen per model or per run; the package keeps no
// mutable state. Adding a backend means one new package, with a typed
// [Config] and a [Descriptor], and one call to [Registry.Add].
package backend

import (
	"fmt"
	"sort"
	"strings"
)

// Role says which of a layer's three products a GEMM call computes.
type Role int

const (
	Forward    Role = iota // Y = X·W
	GradInput              // dX = dY·Wᵀ
	GradWeight             // dW = Xᵀ·dY
)

// Roles lists every role in a stable order.
var Roles = [...]Role{Forward, GradInput, GradWeight}

func (r Role) String() string {
	switch r {
	case Forward:
		return "forward"
	case GradInput:
		return "dX"
	case GradWeight:
		return "dW"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// ParseRole is the inverse of Role.String.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if r.String() == s {
			return r, nil
		}
	}
	return 0, fmt.Errorf("unknown GEMM role %q (valid: forward, dX, dW)", s)
}

// Call tags a GEMM with the layer it belongs to and its role.
type Call struct {
	Layer string
	Role  Role
}

func (c Call) String() string { return c.Layer + "/" + c.Role.String() }

// GEMM describes C = op(A)·op(B) (+ C when Accumulate), in row-major storage.
// op(A) is M×K and op(B) is K×N. When TransA is false, A holds M rows of
// length ≥ K with row stride LDA; when true, A holds K rows of length ≥ M
// (A is stored K×M). Likewise for B: N columns of K-vectors, stored K×N, or
// N×K when TransB. C is M×N with row stride LDC.
//
// The K dimension is the reduction dimension: block-floating-point and RNS
// backends tile along it.
type GEMM struct {
	M, N, K    int
	A          []float32
	LDA        int
	TransA     bool
	B          []float32
	LDB        int
	TransB     bool
	C          []float32
	LDC        int
	Accumulate bool
}

// Validate reports whether the strides and slice lengths describe valid
// matrices. Backends call it so that a shape bug surfaces as an error that
// names the operand, not an index panic deep in a kernel.
func (g *GEMM) Validate() error {
	if g.M < 0 || g.N < 0 || g.K < 0 {
		return fmt.Errorf("gemm: negative size M=%d N=%d K=%d", g.M, g.N, g.K)
	}
	ar, ac := g.M, g.K
	if g.TransA {
		ar, ac = g.K, g.M
	}
	br, bc := g.K, g.N
	if g.TransB {
		br, bc = g.N, g.K
	}
	if err := checkOperand("A", g.A, ar, ac, g.LDA); err != nil {
		return err
	}
	if err := checkOperand("B", g.B, br, bc, g.LDB); err != nil {
		return err
	}
	return checkOperand("C", g.C, g.M, g.N, g.LDC)
}

func checkOperand(name string, data []float32, rows, cols, ld int) error {
	if rows == 0 || cols == 0 {
		return nil
	}
	if ld < cols {
		return fmt.Errorf("gemm: %s has leading dimension %d < %d columns", name, ld, cols)
	}
	if need := (rows-1)*ld + cols; len(data) < need {
		return fmt.Errorf("gemm: %s is %dx%d (ld %d) and needs %d elements, has %d", name, rows, cols, ld, need, len(data))
	}
	return nil
}

// AtA returns element (i, p) of op(A).
func (g *GEMM) AtA(i, p int) float32 {
	if g.TransA {
		return g.A[p*g.LDA+i]
	}
	return g.A[i*g.LDA+p]
}

// AtB returns element (p, j) of op(B).
func (g *GEMM) AtB(p, j int) float32 {
	if g.TransB {
		return g.B[j*g.LDB+p]
	}
	return g.B[p*g.LDB+j]
}

// Backend computes the matrix products of a model.
//
// MatMul must write C exactly as described by [GEMM]; it may use C as scratch
// only within that M×N window. Without Accumulate, C's previous contents are
// garbage (the tape recycles buffers, so they may even be NaN) and must be
// overwritten, never read. Implementations must be safe for use by one
// goroutine at a time per Backend value unless they document otherwise.
type Backend interface {
	Name() string
	MatMul(call Call, g GEMM) error
}

// StatsReporter is implemented by backends that keep per-layer, per-role
// statistics (GEMM counts, readouts, residue errors, ...).
type StatsReporter interface {
	// Stats returns a JSON-marshalable snapshot of the statistics, written
	// to summary.json under backend_stats. It is typed (the BFP backends
	// return a *bfpengine.Report); readers use its capabilities, such as
	// an ErrorStats method, rather than its JSON.
	Stats() any
	// Summary returns a short human-readable report.
	Summary() string
}

// Configurer is implemented by backends whose configuration should be
// written into a run's summary.json under "backend_config".
type Configurer interface {
	Config() any
}

// Factory builds a backend from string options (CLI flags such as
// "bfp-bits" → "6"). Unknown or invalid options must be reported as errors
// before any training starts. A backend with a typed [Config] registers a
// [Descriptor] instead, and its factory is DecodeOptions plus its New.
type Factory func(opts Options) (Backend, error)

// Options are backend settings by flag name, as given on the command line:
// the serialised form of a [Config] (see [DecodeOptions] and
// [EncodeOptions]), kept in compare arms, sweep rows and a run's
// backend_options.
type Options map[string]string

// OptionSpec documents one backend option. The CLI turns every OptionSpec
// of every registered backend into a flag --Name of `mirage train`.
// Backends that share a knob (e.g. "bfp-bits") use the same Name.
type OptionSpec struct {
	Name    string
	Default string
	Help    string
}

// Registry maps backend names to factories.
type Registry struct {
	entries map[string]entry
}

type entry struct {
	help    string
	options []OptionSpec
	factory Factory     // a backend registered with Register
	desc    *Descriptor // a backend registered with Add
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{entries: map[string]entry{}}
}

// Register adds a backend under name with its options and a factory that
// parses them itself. It returns an error if the name is taken. [Registry.Add]
// is the typed way: the options come from the backend's [Config].
func (r *Registry) Register(name, help string, options []OptionSpec, f Factory) error {
	if _, ok := r.entries[name]; ok {
		return fmt.Errorf("backend %q registered twice", name)
	}
	r.entries[name] = entry{help: help, options: options, factory: f}
	return nil
}

// Options returns the option specs of a backend.
func (r *Registry) Options(name string) []OptionSpec { return r.entries[name].options }

// Names lists registered backends in sorted order.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.entries))
	for n := range r.entries {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Help returns the one-line description of a backend.
func (r *Registry) Help(name string) string { return r.entries[name].help }

// New builds the backend called name.
func (r *Registry) New(name string, opts Options) (Backend, error) {
	e, ok := r.entries[name]
	if !ok {
		return nil, r.unknown(name)
	}
	if e.desc != nil {
		return e.desc.Factory(opts)
	}
	known := map[string]bool{}
	for _, o := range e.options {
		known[o.Name] = true
	}
	for k := range opts {
		if !known[k] {
			return nil, fmt.Errorf("option --%s does not apply to backend %s (its options: %s)", k, name, optionNames(e.options))
		}
	}
	return e.factory(opts)
}

func optionNames(specs []OptionSpec) string {
	if len(specs) == 0 {
		return "none"
	}
	names := make([]string, len(specs))
	for i, o := range specs {
		names[i] = "--" + o.Name
	}
	return strings.Join(names, ", ")
}
