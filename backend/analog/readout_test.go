package analog

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/bfpengine/bfptest"
)

// TestRowReadLayout: the field offsets the kernels use (asm/gen.go).
func TestRowReadLayout(t *testing.T) {
	var r rowRead
	offsets := map[string]uintptr{
		"tile": unsafe.Offsetof(r.tile), "dst": unsafe.Offsetof(r.dst), "invB": unsafe.Offsetof(r.invB),
		"scB": unsafe.Offsetof(r.scB), "head16": unsafe.Offsetof(r.head16), "n": unsafe.Offsetof(r.n),
		"invA": unsafe.Offsetof(r.invA), "scA": unsafe.Offsetof(r.scA), "step": unsafe.Offsetof(r.step),
		"lo": unsafe.Offsetof(r.lo), "hi": unsafe.Offsetof(r.hi), "levelScale": unsafe.Offsetof(r.levelScale),
		"state": unsafe.Offsetof(r.state), "bits": unsafe.Offsetof(r.bits), "nbits": unsafe.Offsetof(r.nbits),
		"readouts": unsafe.Offsetof(r.readouts), "clipped": unsafe.Offsetof(r.clipped),
		"noisy": unsafe.Offsetof(r.noisy), "assign": unsafe.Offsetof(r.assign), "dead": unsafe.Offsetof(r.dead),
		"codes": unsafe.Offsetof(r.codes), "thr": unsafe.Offsetof(r.thr), "xs": unsafe.Offsetof(r.xs),
	}
	want := map[string]uintptr{
		"tile": 0, "dst": 8, "invB": 16, "scB": 24, "head16": 32, "n": 40, "invA": 48, "scA": 56, "step": 64,
		"lo": 72, "hi": 80, "levelScale": 88, "state": 96, "bits": 104, "nbits": 112, "readouts": 120,
		"clipped": 128, "noisy": 136, "assign": 144, "dead": 152, "codes": 160, "thr": 168, "xs": 176,
	}
	require.Equal(t, want, offsets)
}

// readoutCase is one row to read out: its exact tile values, the B
// blocks' scales, the destination's old values and the reader's settings.
type readoutCase struct {
	name            string
	tile, old       []float32
	invB, scB       []float64
	invA, scA, step float64
	adcBits         int
	sigma           float64
	assign          bool
	dead            float32
	key             uint64
	item            int
	pieces          int // unused 16-bit pieces left in the stream's word at the start (0–4)
}

// randomReadoutCase draws a row of n columns whose values P/Δ fall near
// codes, near rounding boundaries, beyond the converter's range, or are
// Inf or NaN, with some zero B blocks, for a converter of adcBits bits and
// noise sigma.
func randomReadoutCase(rng *rand.Rand, n, adcBits int, sigma float64, assign bool) readoutCase {
	step := float64(2*128*31*31) / math.Ldexp(1, adcBits)
	ea := rng.IntN(40) - 30
	c := readoutCase{
		tile: make([]float32, n), old: make([]float32, n), invB: make([]float64, n), scB: make([]float64, n),
		invA: math.Ldexp(1, -ea), scA: math.Ldexp(1, ea), step: step, adcBits: adcBits, sigma: sigma,
		assign: assign, dead: []float32{0, float32(math.Copysign(0, -1))}[rng.IntN(2)],
		key: rng.Uint64(), item: rng.IntN(1000), pieces: rng.IntN(5),
	}
	half := math.Ldexp(1, adcBits-1)
	deadCols := rng.IntN(3) // none, a few, many zero B blocks
	for j := range n {
		eb := rng.IntN(40) - 30
		c.invB[j], c.scB[j] = math.Ldexp(1, -eb), math.Ldexp(1, eb)
		if deadCols == 1 && rng.IntN(8) == 0 || deadCols == 2 && rng.IntN(2) == 0 {
			c.scB[j] = 0
		}
		// The exact integer P, as the tile value P·2^(ea+eb).
		var p float64
		switch k := rng.IntN(20); {
		case k < 8: // near 0 codes, the common case
			p = math.Round(rng.NormFloat64() * step / 4)
		case k < 11: // near a rounding boundary
			p = math.Round((float64(rng.IntN(int(2*half))) - half + 0.5 + rng.NormFloat64()*0.01) * step)
		case k < 14: // beyond the range: clips
			p = math.Round((half + 1 + rng.Float64()*half) * step * float64(1-2*rng.IntN(2)))
		case k == 14:
			p = math.Inf(1 - 2*rng.IntN(2))
		case k == 15:
			p = math.NaN()
		default:
			p = math.Round(rng.NormFloat64() * step * half / 2)
		}
		c.tile[j] = float32(math.Ldexp(p, ea+eb))
		c.old[j] = float32(rng.NormFloat64())
		if rng.IntN(50) == 0 {
			c.old[j] = float32(math.NaN())
		}
	}
	return c
}

// read reads out c's row with the vector kernel of the given lanes (0: the
// scalar loop alone), returning the destination, the counts and the
// stream's final state.
func (c readoutCase) read(lanes int) (dst []float32, job rowRead, s stream) {
	nm := newNoiseModel(c.sigma)
	st := newStream()
	st.reset(c.key, c.item)
	for range 4 - c.pieces {
		if c.pieces < 4 {
			st.piece()
		}
	}
	if c.pieces == 4 {
		st.bits, st.nbits = st.Uint64(), 64
	}
	r := rowReader{
		job: rowRead{
			head16: &nm.head16[0], invA: c.invA, scA: c.scA, step: c.step,
			lo: -math.Ldexp(1, c.adcBits-1), hi: math.Ldexp(1, c.adcBits-1) - 1,
			levelScale: nm.levelScale, dead: c.dead,
		},
		scB: c.scB, invB: c.invB, nm: nm, s: st, lanes: lanes,
	}
	if c.sigma > 0 {
		r.job.noisy = 1
	}
	if c.assign {
		r.job.assign = 1
	}
	dst = append([]float32(nil), c.old...)
	tile := c.tile
	if c.assign && len(c.tile)%2 == 0 {
		// In place, as the partition by tiles reads out.
		copy(dst, c.tile)
		tile = dst
	}
	r.readRow(tile, dst)
	job = r.job
	job.tile, job.dst, job.invB, job.scB, job.head16 = nil, nil, nil, nil, nil
	return dst, job, stream{state: st.state, bits: st.bits, nbits: st.nbits}
}

// TestVectorReadoutMatchesScalar: the vector kernel gives exactly what the
// scalar loop gives, bit for bit: the same outputs (the sign of zeros and
// NaNs included), readouts and ADC clips, and the same final position of
// the noise stream, on rows of every length (not multiples of 4 too), with
// zero B blocks (none, few, half), clipped codes, Inf and NaN tile values,
// assigning (in place too) and accumulating, without noise and with small
// and large σ (so that the slow path runs, in isolated groups or most of
// them; on AVX2 the rest of such a row is read in three passes), starting
// at every position in the stream's word.
func TestVectorReadoutMatchesScalar(t *testing.T) {
	for _, lanes := range kernelLanes(t) {
		rng := rand.New(rand.NewPCG(4, 4))
		slow := 0
		for trial := range 3000 {
			n := 1 + rng.IntN(70)
			if trial%10 == 0 {
				n = 200 + rng.IntN(600)
			}
			adcBits := []int{4, 6, 8, 12}[rng.IntN(4)]
			sigma := []float64{0, 0.08, 0.3, 3, 1e-6}[rng.IntN(5)]
			c := randomReadoutCase(rng, n, adcBits, sigma, rng.IntN(2) == 0)
			name := fmt.Sprintf("%d lanes, trial %d: n %d adc %d σ %g assign %v pieces %d", lanes, trial, n, adcBits, sigma, c.assign, c.pieces)
			wantDst, wantJob, wantS := c.read(0)
			gotDst, gotJob, gotS := c.read(lanes)
			require.Equal(t, math32bits(wantDst), math32bits(gotDst), name)
			require.Equal(t, [2]int64{wantJob.readouts, wantJob.clipped}, [2]int64{gotJob.readouts, gotJob.clipped}, name+": readouts, clips")
			require.Equal(t, wantS, gotS, name+": stream")
			if sigma > 0 && slowReadouts(c) > 0 {
				slow++
			}
		}
		// The scalar path took over groups in many rows: rows with
		// readouts whose level is below 1 (near a rounding boundary, or σ
		// large).
		require.Greater(t, slow, 500)
	}
}

// TestHeadTable: the 16-bit table of thresholds the readout kernels look
// up holds head[0..31] exactly, and head is 0 at 0 and from 32 on, so
// that head[min(k, 31)] = head[min(k, 64)] for every level k.
func TestHeadTable(t *testing.T) {
	for _, sigma := range []float64{0.08, 1, 100} {
		nm := newNoiseModel(sigma)
		for k, h := range nm.head {
			if k < len(nm.head16) {
				require.Equal(t, h, uint64(nm.head16[k]), "k %d", k)
			}
			if k == 0 || k >= len(nm.head16) {
				require.Zero(t, h, "k %d", k)
			}
		}
	}
}

// TestKernelThresholds: each vector kernel looks up the threshold of
// every tail level k = 1 … 64: live readouts at level k are decided by
// pieces above head[k] (the kernel reads them all) and not by pieces
// equal to it (it reads none and leaves them to the scalar loop). A wrong
// table entry that is too high would only slow the kernel down, and one
// too low would take the fast path where the scalar loop does not; the
// comparison tests see the second only when a random piece lands on it.
func TestKernelThresholds(t *testing.T) {
	nm := newNoiseModel(0.005) // levels up to 400: all 64 occur
	kernels := map[int]func(uintptr) int{4: readRowAVX2, 8: readRowAVX512}
	for _, lanes := range kernelLanes(t) {
		for k := 1; k <= maxLevel; k++ {
			// x at level k + 1/2: the distance d = (k + 1/2)/levelScale
			// from the boundary above the code 3.
			x := float64(float32(3.5 - (float64(k)+0.5)/nm.levelScale))
			level := (0.5 - math.Abs(x-math.RoundToEven(x))) * nm.levelScale
			require.Equal(t, k, int(min(level, maxLevel)), "level of x = %v", x)
			for _, above := range []bool{false, true} {
				piece := nm.head[k]
				if above {
					piece++
				}
				// Four readouts on a word of four pieces for the AVX2
				// kernel; three on three pieces for the AVX-512 one,
				// which leaves a row to the scalar loop when a whole
				// word is left (and reads a row's last columns).
				n := 4
				if lanes == 8 {
					n = 3
				}
				tile, dst := make([]float32, n), make([]float32, n)
				ones := []float64{1, 1, 1, 1}[:n]
				var bits uint64
				for j := range tile {
					tile[j] = float32(x)
					bits |= piece << (16 * j)
				}
				job := rowRead{
					tile: &tile[0], dst: &dst[0], invB: &ones[0], scB: &ones[0], head16: &nm.head16[0], n: n,
					invA: 1, scA: 1, step: 1, lo: -2048, hi: 2047, levelScale: nm.levelScale,
					bits: bits, nbits: 16 * n, noisy: 1, assign: 1,
				}
				got := kernels[lanes](uintptr(unsafe.Pointer(&job)))
				runtime.KeepAlive(&job)
				runtime.KeepAlive(tile)
				runtime.KeepAlive(dst)
				runtime.KeepAlive(ones)
				want := 0
				if above {
					want = n
				}
				require.Equal(t, want, got, "%d lanes, level %d, pieces %d (head %d)", lanes, k, piece, nm.head[k])
			}
		}
	}
}

// TestPrepareThresholds: the three-pass read's first pass (prepareRowAVX2)
// gives each lane its x and code as readGo computes them, and the
// threshold readGo compares its piece with: head[k] at
// every tail level k = 1 … 64, slowThr below level 1 and for NaN (no
// piece decides those), deadThr for a dead lane (zero B block); and the
// code roundEven(x). decide trusts these: a threshold one too low would
// take the fast path where readGo does not, which the comparison tests see
// only when a random piece lands on it.
func TestPrepareThresholds(t *testing.T) {
	if readoutLanes < 4 {
		t.Skip("no AVX2 readout kernel on this machine")
	}
	nm := newNoiseModel(0.005) // levels up to 400: all 64 occur
	var tile []float32
	var want []uint64
	for k := 1; k <= maxLevel; k++ {
		// x at level k + 1/2 (see TestKernelThresholds).
		tile = append(tile, float32(3.5-(float64(k)+0.5)/nm.levelScale))
		want = append(want, nm.head[k])
	}
	// Level below 1, NaN, and two dead lanes (their values do not matter).
	tile = append(tile, float32(3.5-0.5/nm.levelScale), float32(math.NaN()), 1, float32(math.NaN()))
	want = append(want, slowThr, slowThr, deadThr, deadThr)
	n := len(tile)
	require.Zero(t, n%4)
	invB, scB := make([]float64, n), make([]float64, n)
	for j := range n {
		invB[j], scB[j] = 1, 1
	}
	scB[n-2], scB[n-1] = 0, 0
	codes, thr, xs := make([]float64, n), make([]uint64, n), make([]float64, n)
	const invA, step = 0.75, 0.375 // exact: x is the tile value times 2
	job := rowRead{
		tile: &tile[0], invB: &invB[0], scB: &scB[0], head16: &nm.head16[0], n: n,
		invA: invA, scA: 1, step: step, levelScale: nm.levelScale, codes: &codes[0], thr: &thr[0], xs: &xs[0],
	}
	for j := range tile {
		tile[j] /= 2
	}
	prepareRowAVX2(uintptr(unsafe.Pointer(&job)))
	runtime.KeepAlive(tile)
	runtime.KeepAlive(invB)
	runtime.KeepAlive(scB)
	require.Equal(t, want, thr)
	for j, v := range tile[:n-2] {
		x := float64(v) * invA * invB[j] / step // as readGo computes it
		require.Equal(t, math.Float64bits(x), math.Float64bits(xs[j]), "lane %d", j)
		require.Equal(t, math.Float64bits(math.RoundToEven(x)), math.Float64bits(codes[j]), "lane %d", j)
	}
}

// kernelLanes returns the lane counts of the vector kernels this machine
// runs, skipping the test if none.
func kernelLanes(t *testing.T) []int {
	var lanes []int
	for _, l := range []int{4, 8} {
		if l <= readoutLanes {
			lanes = append(lanes, l)
		}
	}
	if len(lanes) == 0 {
		t.Skip("no vector readout kernel on this machine")
	}
	return lanes
}

// slowReadouts counts c's live readouts that cannot take the fast path
// whatever the random piece: a tail level below 1.
func slowReadouts(c readoutCase) int {
	nm := newNoiseModel(c.sigma)
	n := 0
	for j, v := range c.tile {
		x := float64(v) * c.invA * c.invB[j] / c.step
		if c.scB[j] != 0 && !((0.5-math.Abs(x-math.RoundToEven(x)))*nm.levelScale >= 1) {
			n++
		}
	}
	return n
}

// TestProductVectorMatchesScalar: whole products read out with the vector
// kernel equal those read out by the scalar loop alone, bit for bit, with
// the same statistics, call after call (so the same noise keys), in every
// partition mode, with zero blocks on both sides, accumulating or not,
// without noise, at the default σ and with a large σ on a converter that
// clips.
func TestProductVectorMatchesScalar(t *testing.T) {
	cases := []struct {
		m, n, k    int
		accumulate bool
		opts       backend.Options
	}{
		{300, 40, 300, false, backend.Options{}},
		{131, 37, 300, true, backend.Options{"adc-bits": "4", "noise-sigma": "3"}},
		{16, 147, 128*12 + 5, false, backend.Options{"adc-bits": "8", "noise-sigma": "0.3"}}, // by tiles
		{40, 301, 9 * 128, true, backend.Options{}},                                          // by tiles, accumulating
		{300, 270, 260, true, backend.Options{"adc-bits": "10", "noise-sigma": "0.5"}},       // tile-major
		{77, 13, 129, false, backend.Options{"noise-sigma": "0"}},
	}
	for _, lanes := range kernelLanes(t) {
		for _, tc := range cases {
			name := fmt.Sprintf("%d lanes, %dx%dx%d acc=%v %v", lanes, tc.m, tc.n, tc.k, tc.accumulate, tc.opts)
			vector, scalar := newBackend(t, tc.opts), newBackend(t, tc.opts)
			require.Equal(t, readoutLanes, vector.lanes, name)
			vector.lanes, scalar.lanes = lanes, 0
			rng := rand.New(rand.NewPCG(uint64(tc.n), uint64(tc.k)))
			for call := range 3 {
				g := bfptest.RandomGEMM(rng, tc.m, tc.n, tc.k, call == 1, call == 2, tc.accumulate, 0)
				zeroBlocks(rng, &g)
				want := bfptest.Run(t, scalar, fwd, g)
				got := bfptest.Run(t, vector, fwd, g)
				require.Equal(t, math32bits(want), math32bits(got), "%s: call %d", name, call)
			}
			require.Equal(t, scalar.Stats(), vector.Stats(), name)
			require.Equal(t, scalar.rng.Uint64(), vector.rng.Uint64(), name)
		}
	}
}
