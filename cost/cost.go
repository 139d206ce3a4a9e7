package cost

import (
	"fmt"
	"maps"
	"math"
	"slices"
)

// Cost is the time and energy of some work on one piece of hardware.
type Cost struct {
	// Seconds is the latency: the work runs call after call.
	Seconds float64 `json:"seconds"`
	// Joules is the total energy, the sum of Energy.
	Joules float64 `json:"joules"`
	// Energy splits Joules by component (adc, dac, laser, mac, sram, ...).
	Energy map[string]float64 `json:"energy_j"`
	// Counts are the events the energy was computed from (optical passes,
	// conversions, readouts, cycles, MACs, bytes moved, ...).
	Counts map[string]float64 `json:"counts"`
}

// EDP returns the energy-delay product in joule-seconds.
func (c Cost) EDP() float64 { return c.Joules * c.Seconds }

// Watts returns the average power, Joules/Seconds (0 for no time).
func (c Cost) Watts() float64 {
	if c.Seconds == 0 {
		return 0
	}
	return c.Joules / c.Seconds
}

func (c *Cost) energy(component string, joules float64) {
	if c.Energy == nil {
		c.Energy = map[string]float64{}
	}
	c.Energy[component] += joules
	c.Joules += joules
}

func (c *Cost) count(name string, n float64) {
	if c.Counts == nil {
		c.Counts = map[string]float64{}
	}
	c.Counts[name] += n
}

// Add adds o to c: times add (the calls run one after the other), and so do
// energies and counts.
func (c *Cost) Add(o Cost) {
	c.Seconds += o.Seconds
	for _, k := range slices.Sorted(maps.Keys(o.Energy)) {
		c.energy(k, o.Energy[k])
	}
	for _, k := range slices.Sorted(maps.Keys(o.Counts)) {
		c.count(k, o.Counts[k])
	}
}

// Hardware prices GEMMs on one accelerator design.
type Hardware interface {
	// Name is the parameter set's name.
	Name() string
	// GEMM returns the cost of a record's calls in format f (nil: the
	// hardware's own; systolic arrays ignore it).
	GEMM(r Record, f *Format) (Cost, error)
	// Host returns the cost of ops FP32 operations on the digital host.
	Host(ops float64) Cost
	// Arrays is the number of parallel arrays; AreaMM2 their area.
	Arrays() int
	AreaMM2() float64
	// WithArrays returns the same design with n arrays.
	WithArrays(n int) Hardware
}

// New returns the model the parameters describe.
func New(p *Params) (Hardware, error) {
	switch p.Kind {
	case KindMirage:
		return &Mirage{P: *p}, nil
	case KindSystolic:
		return &Systolic{P: *p}, nil
	}
	return nil, fmt.Errorf("%s: unknown hardware kind %q", p.Source, p.Kind)
}

// host prices ops FP32 operations on h (shared by both models).
func host(h HostParams, ops float64) Cost {
	var c Cost
	c.Seconds = ops / (float64(h.Lanes) * h.ClockGHz * 1e9)
	c.energy("host", ops*h.OpPJ*pJ)
	c.count("host_ops", ops)
	return c
}

// pJ is a picojoule in joules.
const pJ = 1e-12

func ceilDiv(a, b int) float64 { return math.Ceil(float64(a) / float64(b)) }
