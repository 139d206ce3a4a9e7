package cost

import "math"

// Systolic prices GEMMs on output-stationary systolic arrays (see the
// package documentation for the equations).
type Systolic struct {
	P Params
}

// Name implements Hardware.
func (s *Systolic) Name() string { return s.P.Name }

// Arrays implements Hardware.
func (s *Systolic) Arrays() int { return s.P.Systolic.Arrays }

// AreaMM2 implements Hardware.
func (s *Systolic) AreaMM2() float64 { return float64(s.P.Systolic.Arrays) * s.P.Systolic.AreaMM2 }

// WithArrays implements Hardware.
func (s *Systolic) WithArrays(n int) Hardware {
	c := *s
	sp := *s.P.Systolic
	sp.Arrays = n
	c.P.Systolic = &sp
	return &c
}

// Host implements Hardware.
func (s *Systolic) Host(ops float64) Cost { return host(s.P.Host, ops) }

// GEMM implements Hardware. The format is ignored: the array multiplies
// its own number format (bf16 or int8), and layers kept in FP32 run on it
// too.
func (s *Systolic) GEMM(r Record, _ *Format) (Cost, error) {
	if err := r.Validate(); err != nil {
		return Cost{}, err
	}
	var c Cost
	if r.Count == 0 || r.M == 0 || r.N == 0 {
		return c, nil
	}
	sp, mem := s.P.Systolic, s.P.Memory
	calls := float64(r.Count)
	M, N, K := float64(r.M), float64(r.N), float64(r.K)
	rowFolds, colFolds := ceilDiv(r.M, sp.Rows), ceilDiv(r.N, sp.Cols)
	folds := rowFolds * colFolds
	// Each fold keeps an R×C block of C in the PEs: K cycles to stream
	// the operands through, plus R+C-2 cycles for the skewed wavefront to
	// fill and drain. Folds are spread over the arrays.
	cycles := math.Ceil(folds/float64(sp.Arrays)) * (K + float64(sp.Rows+sp.Cols-2))
	c.Seconds = calls * cycles / (sp.ClockGHz * 1e9)
	c.count("folds", calls*folds)
	c.count("cycles", calls*cycles)
	c.count("macs", r.MACs())
	// Idle PEs of partial folds are clock-gated: only useful MACs cost.
	c.energy("mac", r.MACs()*(sp.MultPJ+sp.AddPJ)*sp.TechnologyScale*pJ)
	// SRAM: every fold reads its rows of A and columns of B (K each) and
	// writes its outputs once. DRAM: every operand and result crosses once.
	sram := K*(M*colFolds+N*rowFolds)*mem.OperandBytes + M*N*mem.OutputBytes
	dram := (M*K+K*N)*mem.OperandBytes + M*N*mem.OutputBytes
	c.count("sram_bytes", calls*sram)
	c.count("dram_bytes", calls*dram)
	c.energy("sram", calls*sram*mem.SRAMPJPerByte*pJ)
	c.energy("dram", calls*dram*mem.DRAMPJPerByte*pJ)
	c.energy("leakage", sp.LeakageW*float64(sp.Arrays)*c.Seconds)
	return c, nil
}
