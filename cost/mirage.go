package cost

import (
	"fmt"
	"math"
)

// Mirage prices GEMMs on an RNS photonic accelerator (see the package
// documentation for the equations).
type Mirage struct {
	P Params
}

// Name implements Hardware.
func (m *Mirage) Name() string { return m.P.Name }

// Arrays implements Hardware.
func (m *Mirage) Arrays() int { return m.P.Photonic.Arrays }

// AreaMM2 implements Hardware.
func (m *Mirage) AreaMM2() float64 { return float64(m.P.Photonic.Arrays) * m.P.Digital.AreaMM2 }

// WithArrays implements Hardware.
func (m *Mirage) WithArrays(n int) Hardware {
	c := *m
	ph := *m.P.Photonic
	ph.Arrays = n
	c.P.Photonic = &ph
	return &c
}

// Host implements Hardware.
func (m *Mirage) Host(ops float64) Cost { return host(m.P.Host, ops) }

// LossDB returns the optical loss from the laser to a photodetector for
// tile length h: edge couplers, microrings, and the phase shifters a
// lane's light crosses: phase_shifters_in_path, plus
// phase_shifters_per_tile_element per element of the tile (when phases are
// added along one waveguide, one shifter per element in series).
func (m *Mirage) LossDB(h int) float64 {
	o := m.P.Optics
	return o.EdgeCouplerDB*float64(o.EdgeCouplers) + o.MicroringDB*float64(o.Microrings) +
		o.PhaseShifterDB*(o.PhaseShifters+o.PhaseShiftersTiles*float64(h))
}

// LaserWatts returns the electrical power of the lasers of all arrays for
// format f: every lane (Rows per bank, one bank per modulus, Wavelengths)
// must deliver DetectorCurrent/Responsivity to its photodetector through
// LossDB; LaserPowerFactor multiplies the result (signal-integrity
// margins); the wall-plug efficiency turns optical into electrical power.
func (m *Mirage) LaserWatts(f *Format) float64 {
	o, ph := m.P.Optics, m.P.Photonic
	lanes := float64(ph.Arrays) * float64(f.Count()) * float64(ph.Rows) * float64(o.Wavelengths)
	detector := o.DetectorCurrentUA * 1e-6 / o.Responsivity
	return lanes * detector * math.Pow(10, m.LossDB(f.Tile)/10) * o.LaserPowerFactor / o.LaserWallPlug
}

// converterScale returns the mean over the moduli of 2^(bits(m)-ref).
func converterScale(f *Format, ref int) float64 {
	var s float64
	for _, m := range f.Moduli {
		s += math.Exp2(float64(ConverterBits(m) - ref))
	}
	for _, m := range f.Redundant {
		s += math.Exp2(float64(ConverterBits(m) - ref))
	}
	return s / float64(f.Count())
}

// GEMM implements Hardware.
func (m *Mirage) GEMM(r Record, f *Format) (Cost, error) {
	if f == nil {
		f = m.P.Format
	}
	if err := f.Validate(); err != nil {
		return Cost{}, err
	}
	if err := r.Validate(); err != nil {
		return Cost{}, err
	}
	if lw := m.LaserWatts(f); math.IsInf(lw, 0) || lw > 1e15 {
		return Cost{}, fmt.Errorf("%s: optical loss of %.4g dB at tile %d needs a laser power beyond any model (%.3g W)", m.P.Source, m.LossDB(f.Tile), f.Tile, lw)
	}
	if r.FP32 {
		c := m.Host(2 * r.MACs())
		c.count("fp32_macs", r.MACs())
		return c, nil
	}
	var c Cost
	if r.Count == 0 || r.M == 0 || r.N == 0 {
		return c, nil
	}
	ph, cv, d, mem := m.P.Photonic, m.P.Converters, m.P.Digital, m.P.Memory
	calls := float64(r.Count)
	M, N, K := float64(r.M), float64(r.N), float64(r.K)
	h := float64(f.Tile)
	tiles := ceilDiv(r.K, f.Tile)
	chunks := ceilDiv(r.N, ph.Rows) // weight tiles across N
	nmod := float64(f.Count())
	weightTiles := tiles * chunks // per modulus, per call
	passes := weightTiles * M     // per modulus, per call
	// Latency: the weight tiles are spread over the arrays; each is loaded
	// and then M input vectors stream through it, one pass per cycle.
	cycles := math.Ceil(weightTiles/float64(ph.Arrays)) * (M + ph.WeightLoadCycles)
	c.Seconds = calls * cycles / (ph.ClockGHz * 1e9)
	tileOutputs := tiles * M * N
	live := tileOutputs * r.LiveFraction()

	c.count("optical_passes", calls*passes*nmod)
	c.count("cycles", calls*cycles)
	c.count("tile_outputs", calls*tileOutputs)
	c.count("live_tile_outputs", calls*live)
	c.count("macs", r.MACs())

	inputDAC := passes * h * nmod
	weightDAC := weightTiles * h * float64(ph.Rows) * nmod
	c.count("dac_input_conversions", calls*inputDAC)
	c.count("dac_weight_conversions", calls*weightDAC)
	dacPJ := cv.DACPJ * converterScale(f, cv.DACBits)
	c.energy("dac", calls*(inputDAC+weightDAC)*dacPJ*pJ)

	readouts := live * nmod
	c.count("readouts", calls*readouts)
	c.energy("adc", calls*readouts*cv.ADCPJ*converterScale(f, cv.ADCBits)*pJ)
	c.energy("tia", calls*readouts*cv.TIAPJ*pJ)

	elements := M*K + K*N
	s := d.TechnologyScale
	// The conversions work on b-bit mantissas; their energies are given
	// for 8 bits and scale with the width (adders and shifters are linear
	// in it).
	width := float64(f.Bits) / 8
	c.energy("bfp_convert", calls*elements*d.BFPConvertPJ*width*s*pJ)
	c.energy("rns_convert", calls*elements*nmod*d.RNSConvertPJ*width*s*pJ)
	c.energy("crt", calls*live*nmod*d.CRTPJ*s*pJ)
	if len(f.Redundant) > 0 {
		c.energy("rrns", calls*live*float64(len(f.Redundant))*d.RRNSPJ*s*pJ)
	}
	c.energy("accumulate", calls*live*d.AccumulatePJ*s*pJ)

	// SRAM: A is read once per weight chunk along N, B once, C written
	// once. DRAM: every operand and result crosses once.
	sram := (M*K*chunks+K*N)*mem.OperandBytes + M*N*mem.OutputBytes
	dram := (M*K+K*N)*mem.OperandBytes + M*N*mem.OutputBytes
	c.count("sram_bytes", calls*sram)
	c.count("dram_bytes", calls*dram)
	c.energy("sram", calls*sram*mem.SRAMPJPerByte*pJ)
	c.energy("dram", calls*dram*mem.DRAMPJPerByte*pJ)

	// Power drawn while the core works: lasers and static power.
	c.energy("laser", m.LaserWatts(f)*c.Seconds)
	c.energy("static", d.StaticW*float64(ph.Arrays)*c.Seconds)
	return c, nil
}
