package cost

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
)

// smallMirage is a tiny Mirage with round numbers, so that counts and
// energies can be worked out by hand.
func smallMirage(t *testing.T) *Mirage {
	t.Helper()
	p, err := Preset("mirage-isca24")
	require.NoError(t, err)
	p.Format = &Format{Moduli: []int64{5, 7}, Bits: 2, Tile: 4} // M = 35, signed ±17 ≥ 4·1²
	p.Photonic = &PhotonicParams{ClockGHz: 1, Arrays: 1, Rows: 2, WeightLoadCycles: 1}
	p.Converters = &ConverterParams{DACPJ: 1, DACBits: 3, ADCPJ: 2, ADCBits: 3, TIAPJ: 0.5}
	p.Optics = &OpticsParams{LaserWallPlug: 0.5, Responsivity: 1.1, DetectorCurrentUA: 110, EdgeCouplerDB: 1, EdgeCouplers: 1,
		PhaseShifterDB: 0.5, PhaseShiftersTiles: 1, Wavelengths: 1, LaserPowerFactor: 1}
	p.Digital = &DigitalParams{TechnologyScale: 1, BFPConvertPJ: 1, RNSConvertPJ: 0.25, CRTPJ: 3, RRNSPJ: 5, AccumulatePJ: 0.5, StaticW: 0.002, AreaMM2: 10}
	p.Memory = MemoryParams{SRAMPJPerByte: 1, DRAMPJPerByte: 10, OperandBytes: 4, OutputBytes: 4}
	return &Mirage{P: *p}
}

func smallSystolic(t *testing.T) *Systolic {
	t.Helper()
	p, err := Preset("systolic-bf16-128x128")
	require.NoError(t, err)
	p.Systolic = &SystolicParams{Rows: 2, Cols: 4, ClockGHz: 2, Arrays: 3, MultPJ: 1, AddPJ: 0.5, LeakageW: 0.01, AreaMM2: 4, TechnologyScale: 2}
	p.Memory = MemoryParams{SRAMPJPerByte: 1, DRAMPJPerByte: 10, OperandBytes: 2, OutputBytes: 4}
	return &Systolic{P: *p}
}

var fwd = backend.Forward

// TestMirageByHand: C(3×5) = A(3×10)·B(10×5), twice, tile 4, banks of 2
// rows, moduli {5, 7}, 60 of the 90 tile outputs live.
func TestMirageByHand(t *testing.T) {
	m := smallMirage(t)
	r := Record{Layer: "fc", Role: fwd, M: 3, N: 5, K: 10, Count: 2, TileOutputs: 90, LiveTileOutputs: 60}
	c, err := m.GEMM(r, nil)
	require.NoError(t, err)
	// 3 tiles along K (4+4+2), 3 weight chunks along N (2+2+1): 9 weight
	// tiles per modulus; each streams the 3 rows of A: 27 passes per
	// modulus per call.
	require.Equal(t, 2*27*2.0, c.Counts["optical_passes"])
	// One array: 9 weight tiles × (1 load cycle + 3 passes) = 36 cycles.
	require.Equal(t, 72.0, c.Counts["cycles"])
	require.InDelta(t, 72e-9, c.Seconds, 1e-20) // 1 GHz
	// Inputs: 4 values per pass per modulus; weights: 4×2 per weight tile.
	require.Equal(t, 2*27*4*2.0, c.Counts["dac_input_conversions"])
	require.Equal(t, 2*9*8*2.0, c.Counts["dac_weight_conversions"])
	// Both moduli need 3-bit converters, the reference width: no scaling.
	require.InDelta(t, (216+144)*2*1*pJ, c.Energy["dac"], 1e-24)
	// 45 tile outputs per call, 2/3 live: 30 per call, read per modulus.
	require.Equal(t, 90.0, c.Counts["tile_outputs"])
	require.Equal(t, 60.0, c.Counts["live_tile_outputs"])
	require.Equal(t, 120.0, c.Counts["readouts"])
	require.InDelta(t, 120*2*pJ, c.Energy["adc"], 1e-24)
	require.InDelta(t, 120*0.5*pJ, c.Energy["tia"], 1e-24)
	require.InDelta(t, 60*2*3*pJ, c.Energy["crt"], 1e-24)
	require.Zero(t, c.Energy["rrns"])
	require.InDelta(t, 60*0.5*pJ, c.Energy["accumulate"], 1e-24)
	// 30 + 50 operand elements per call.
	require.InDelta(t, 2*80*1*(2.0/8)*pJ, c.Energy["bfp_convert"], 1e-24) // 2 of 8 bits
	require.InDelta(t, 2*80*2*0.25*(2.0/8)*pJ, c.Energy["rns_convert"], 1e-24)
	// SRAM: A read once per N chunk (3×10×3), B once (50), C written (15).
	require.Equal(t, 2*((90+50)*4+15*4.0), c.Counts["sram_bytes"])
	require.Equal(t, 2*((30+50)*4+15*4.0), c.Counts["dram_bytes"])
	// Laser: 4 lanes (2 moduli × 2 rows) × 100 µW at the detector, 1 dB
	// coupler + 4 × 0.5 dB phase shifters = 3 dB, wall plug 50%.
	laser := 4 * 100e-6 * math.Pow(10, 0.3) / 0.5
	require.InDelta(t, laser, m.LaserWatts(m.P.Format), 1e-12)
	require.InDelta(t, laser*72e-9, c.Energy["laser"], 1e-18)
	require.InDelta(t, 0.002*72e-9, c.Energy["static"], 1e-20)
	var sum float64
	for _, e := range c.Energy {
		sum += e
	}
	require.InDelta(t, sum, c.Joules, 1e-9*sum)

	// A redundant modulus adds a bank: 3 readouts per live tile output,
	// and the RRNS check.
	f := &Format{Moduli: []int64{5, 7}, Redundant: []int64{11}, Bits: 2, Tile: 4}
	c, err = m.GEMM(r, f)
	require.NoError(t, err)
	require.Equal(t, 180.0, c.Counts["readouts"])
	require.InDelta(t, 60*1*5*pJ, c.Energy["rrns"], 1e-24)
	// 11 needs 4 bits: its ADC costs twice the 3-bit reference.
	require.InDelta(t, 60*(2+2+4)*pJ, c.Energy["adc"], 1e-24)
}

// TestSystolicByHand: the same GEMM on three 2×4 output-stationary arrays.
func TestSystolicByHand(t *testing.T) {
	s := smallSystolic(t)
	c, err := s.GEMM(Record{Layer: "fc", Role: fwd, M: 3, N: 5, K: 10, Count: 2}, nil)
	require.NoError(t, err)
	// 2 row folds × 2 column folds; 4 folds on 3 arrays take 2 rounds of
	// K + R + C - 2 = 14 cycles.
	require.Equal(t, 8.0, c.Counts["folds"])
	require.Equal(t, 56.0, c.Counts["cycles"])
	require.InDelta(t, 28e-9, c.Seconds, 1e-20) // 2 GHz
	require.InDelta(t, 300*1.5*2*pJ, c.Energy["mac"], 1e-24)
	// Every fold reads K elements per row and column it holds:
	// 10 × (3 rows × 2 column folds + 5 columns × 2 row folds) × 2 bytes,
	// plus 15 outputs × 4 bytes.
	require.Equal(t, 2*(320+60.0), c.Counts["sram_bytes"])
	require.Equal(t, 2*((30+50)*2+60.0), c.Counts["dram_bytes"])
	require.InDelta(t, 3*0.01*28e-9, c.Energy["leakage"], 1e-20)
}

// TestFP32LayersRunOnHost: a layer kept in FP32 costs host operations on
// Mirage, two per MAC.
func TestFP32LayersRunOnHost(t *testing.T) {
	m := smallMirage(t)
	c, err := m.GEMM(Record{Layer: "fc", Role: fwd, M: 3, N: 5, K: 10, Count: 1, FP32: true}, nil)
	require.NoError(t, err)
	require.Equal(t, 300.0, c.Counts["host_ops"])
	require.InDelta(t, 300*m.P.Host.OpPJ*pJ, c.Joules, 1e-24)
	require.InDelta(t, 300/(float64(m.P.Host.Lanes)*m.P.Host.ClockGHz*1e9), c.Seconds, 1e-20)
}

func presetModels(t *testing.T) []Hardware {
	var hws []Hardware
	for _, name := range Presets() {
		p, err := Preset(name)
		require.NoError(t, err)
		hw, err := New(p)
		require.NoError(t, err)
		hws = append(hws, hw)
	}
	return hws
}

// TestLinearInBatch: for large batches, doubling M (the batch dimension
// of a forward GEMM) doubles time and energy, within 1%.
func TestLinearInBatch(t *testing.T) {
	for _, hw := range presetModels(t) {
		for _, shape := range [][3]int{{4096, 64, 576}, {8192, 10, 120}} {
			r := Record{Layer: "l", Role: fwd, M: shape[0], N: shape[1], K: shape[2], Count: 1}
			c1, err := hw.GEMM(r, nil)
			require.NoError(t, err)
			r.M *= 2
			c2, err := hw.GEMM(r, nil)
			require.NoError(t, err)
			require.InDelta(t, 2, c2.Seconds/c1.Seconds, 0.02, "%s %v time", hw.Name(), shape)
			require.InDelta(t, 2, c2.Joules/c1.Joules, 0.02, "%s %v energy", hw.Name(), shape)
		}
	}
}

// TestMoreModuliNeverCheaper: adding a modulus (redundant or not) never
// lowers time or energy.
func TestMoreModuliNeverCheaper(t *testing.T) {
	m := &Mirage{P: mustPreset(t, "mirage-isca24")}
	r := Record{Layer: "l", Role: fwd, M: 512, N: 200, K: 300, Count: 3, TileOutputs: 1000, LiveTileOutputs: 700}
	formats := []*Format{
		{Moduli: []int64{63, 64, 65}, Bits: 5, Tile: 64},
		{Moduli: []int64{63, 64, 65}, Redundant: []int64{67}, Bits: 5, Tile: 64},
		{Moduli: []int64{63, 64, 65}, Redundant: []int64{67, 71}, Bits: 5, Tile: 64},
		{Moduli: []int64{61, 63, 64, 65}, Redundant: []int64{67, 71}, Bits: 5, Tile: 64},
	}
	prev := Cost{}
	for _, f := range formats {
		c, err := m.GEMM(r, f)
		require.NoError(t, err)
		require.GreaterOrEqual(t, c.Seconds, prev.Seconds, "%v", f)
		require.Greater(t, c.Joules, prev.Joules, "%v", f)
		prev = c
	}
}

// TestMoreBitsNeverCheaper: for fixed moduli and tile, more mantissa
// bits never cost less (the digital conversions are wider). With the tile
// free to grow as the bits shrink, it can: the optical loss grows with the
// tile (see LossDB), so fewer bits with longer tiles may cost more laser
// power; COST.md discusses it.
func TestMoreBitsNeverCheaper(t *testing.T) {
	for _, name := range []string{"mirage-isca24", "mirage-pessimistic", "mirage-converter-refs"} {
		m := &Mirage{P: mustPreset(t, name)}
		r := Record{Layer: "l", Role: fwd, M: 1024, N: 256, K: 1152, Count: 1}
		prev := Cost{}
		for bits := 2; bits <= 8; bits++ {
			f := &Format{Moduli: []int64{127, 128, 129}, Bits: bits, Tile: 64}
			require.NoError(t, f.Validate())
			c, err := m.GEMM(r, f)
			require.NoError(t, err)
			require.Greater(t, c.Joules, prev.Joules, "%s bits %d", name, bits)
			require.GreaterOrEqual(t, c.Seconds, prev.Seconds, "%s bits %d", name, bits)
			prev = c
		}
	}
}

// TestZeroTilesOnlyLowerCost: fewer live tiles never cost more, and the
// time (the optical passes) does not depend on them.
func TestZeroTilesOnlyLowerCost(t *testing.T) {
	m := &Mirage{P: mustPreset(t, "mirage-isca24")}
	r := Record{Layer: "l", Role: fwd, M: 128, N: 64, K: 576, Count: 1, TileOutputs: 1000}
	prev := math.Inf(1)
	for _, live := range []int64{1000, 900, 500, 0} {
		r.LiveTileOutputs = live
		c, err := m.GEMM(r, nil)
		require.NoError(t, err)
		require.Less(t, c.Joules, prev)
		prev = c.Joules
	}
}

// TestUnits: energies in joules, times in seconds, power in watts: a
// systolic array busy for one second at full use draws its MAC power.
func TestUnits(t *testing.T) {
	s := &Systolic{P: mustPreset(t, "systolic-int8-256x256")}
	// M = R, N = C, K huge: fill/drain negligible, every PE busy.
	r := Record{Layer: "l", Role: fwd, M: 256, N: 256, K: 700_000_000, Count: 1}
	c, err := s.GEMM(r, nil)
	require.NoError(t, err)
	require.InDelta(t, 1, c.Seconds, 1e-5) // 7e8 cycles at 0.7 GHz
	// 65536 MACs × 0.3 pJ × 0.7e9 per second = 13.76 W.
	require.InDelta(t, 65536*0.3e-12*0.7e9, c.Energy["mac"], 1e-3)
	require.InDelta(t, 1.4, c.Energy["leakage"], 1e-4)
	require.InDelta(t, c.Joules, c.Watts(), 1e-3)
	require.InDelta(t, c.Joules*c.Seconds, c.EDP(), 1e-9)
}

func mustPreset(t *testing.T, name string) Params {
	t.Helper()
	p, err := Preset(name)
	require.NoError(t, err)
	return *p
}

// TestCompareIso: iso-area gives the baseline the arrays that fit in the
// accelerator's area; iso-energy the power closest to the accelerator's.
func TestCompareIso(t *testing.T) {
	acc := &Mirage{P: mustPreset(t, "mirage-isca24")}
	base := &Systolic{P: mustPreset(t, "systolic-int8-256x256")}
	w := Workload{Records: []Record{
		{Layer: "a", Role: fwd, M: 4096, N: 256, K: 1152, Count: 4},
		{Layer: "a", Role: backend.GradWeight, M: 1152, N: 256, K: 4096, Count: 4},
	}}
	acc = acc.WithArrays(10).(*Mirage)
	c, err := Compare(acc, base, w, IsoArea)
	require.NoError(t, err)
	require.Equal(t, int(math.Floor(650.0/79)), c.Baseline.Arrays)
	c, err = Compare(acc, base, w, IsoEnergy)
	require.NoError(t, err)
	n := c.Baseline.Arrays
	target := c.Accelerator.GEMM.Watts()
	for _, other := range []int{n - 1, n + 1} {
		if other < 1 {
			continue
		}
		r, err := Evaluate(base.WithArrays(other), w)
		require.NoError(t, err)
		require.LessOrEqual(t, math.Abs(c.Baseline.GEMM.Watts()-target), math.Abs(r.GEMM.Watts()-target)+1e-9)
	}
	require.InDelta(t, c.Baseline.GEMM.Seconds/c.Accelerator.GEMM.Seconds, c.GEMM.Speedup, 1e-12)
	require.InDelta(t, c.GEMM.Speedup*c.GEMM.Energy, c.GEMM.EDP, 1e-9*c.GEMM.EDP)
}

// TestNonGEMMSameOnBoth: the non-GEMM work costs the same on every preset
// (the same host), and appears in the total, not in the GEMM figures.
func TestNonGEMMSameOnBoth(t *testing.T) {
	w := Workload{Records: []Record{{Layer: "a", Role: fwd, M: 64, N: 10, K: 100, Count: 1}}}
	w.NonGEMM = EstimateNonGEMM(w.Records, 1000, 1, OpsPerParamSGD)
	require.Equal(t, float64(12*640+6*1000), w.NonGEMM.Ops)
	var first Cost
	for i, hw := range presetModels(t) {
		r, err := Evaluate(hw, w)
		require.NoError(t, err)
		if i == 0 {
			first = r.NonGEMM
		}
		require.Equal(t, first, r.NonGEMM, hw.Name())
		require.InDelta(t, r.GEMM.Joules+r.NonGEMM.Joules, r.Total.Joules, 1e-15)
	}
}

// TestSub: per-epoch records are differences of cumulative counts.
func TestSub(t *testing.T) {
	before := []Record{{Layer: "a", Role: fwd, M: 2, N: 3, K: 4, Count: 5, TileOutputs: 50, LiveTileOutputs: 40}}
	after := []Record{
		{Layer: "a", Role: fwd, M: 2, N: 3, K: 4, Count: 8, TileOutputs: 80, LiveTileOutputs: 60},
		{Layer: "a", Role: fwd, M: 1, N: 3, K: 4, Count: 1, TileOutputs: 5, LiveTileOutputs: 5},
	}
	require.Equal(t, []Record{
		{Layer: "a", Role: fwd, M: 2, N: 3, K: 4, Count: 3, TileOutputs: 30, LiveTileOutputs: 20},
		{Layer: "a", Role: fwd, M: 1, N: 3, K: 4, Count: 1, TileOutputs: 5, LiveTileOutputs: 5},
	}, Sub(after, before))
	// Merge undoes Sub (sorted by shape).
	require.Equal(t, []Record{after[1], after[0]}, Merge(before, Sub(after, before)))
}
