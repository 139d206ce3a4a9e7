package vec

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// windowCase is one geometry of Windows.
type windowCase struct{ n, step, blocks, plane, height, ld, width int }

func (c windowCase) String() string {
	return fmt.Sprintf("n %d step %d blocks %d plane %d height %d ld %d width %d", c.n, c.step, c.blocks, c.plane, c.height, c.ld, c.width)
}

// imgLen is the length of an image holding c's windows, plus slack that
// must stay untouched.
func (c windowCase) imgLen() int {
	return (c.n-1)*c.step + (c.blocks-1)*c.plane + (c.height-1)*c.ld + c.width + 9
}

// windowCases are geometries around the kernels' limits: widths up to and
// past the 8 floats of one vector, windows that overlap (a stride-1
// convolution's receptive fields) or leave gaps, and rows that end at the
// image's last element.
func windowCases(rng *rand.Rand) []windowCase {
	cases := []windowCase{
		{n: 1, step: 0, blocks: 1, plane: 0, height: 1, ld: 0, width: 1},
		{n: 30, step: 1, blocks: 16, plane: 34 * 34, height: 3, ld: 34, width: 3}, // ResNet's first stage
		{n: 24, step: 1, blocks: 6, plane: 14 * 14, height: 5, ld: 14, width: 5},  // LeNet's second convolution
		{n: 7, step: 2, blocks: 3, plane: 100, height: 3, ld: 10, width: 3},       // stride 2
		{n: 3, step: 9, blocks: 2, plane: 90, height: 8, ld: 9, width: 8},
		{n: 2, step: 1, blocks: 2, plane: 200, height: 2, ld: 12, width: 9}, // past one vector: the Go loop
	}
	for range 200 {
		width := 1 + rng.IntN(10)
		ld := width + rng.IntN(4)
		height := 1 + rng.IntN(5)
		cases = append(cases, windowCase{
			n: 1 + rng.IntN(6), step: rng.IntN(4), blocks: 1 + rng.IntN(4),
			plane: height*ld + rng.IntN(7), height: height, ld: ld, width: width,
		})
	}
	return cases
}

// randomBits returns n floats of random bits: NaNs, infinities,
// subnormals and normal values among them.
func randomBits(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = math.Float32frombits(rng.Uint32())
		if i%3 == 0 {
			x[i] = float32(rng.NormFloat64())
		}
	}
	return x
}

// sameBits requires equal bits, NaN payloads included: Windows only moves
// data.
func sameBits(t *testing.T, want, got []float32, msg string) {
	t.Helper()
	for i := range want {
		require.Equal(t, math.Float32bits(want[i]), math.Float32bits(got[i]), "%s: element %d", msg, i)
	}
}

// TestWindowsMatchesGo checks Windows of every kernel set against the Go
// loop, bit for bit, on the whole buffer: rows past the windows' must
// keep their values.
func TestWindowsMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 41))
	for _, c := range windowCases(rng) {
		rowsLen := c.n*c.blocks*c.height*c.width + 5
		img := randomBits(rng, c.imgLen())
		rows := randomBits(rng, rowsLen)
		wantRows := append([]float32(nil), rows...)
		windowsGo(wantRows, img, c.n, c.step, c.blocks, c.plane, c.height, c.ld, c.width)
		for _, k := range available() {
			gotRows := append([]float32(nil), rows...)
			k.windows(gotRows, img, c.n, c.step, c.blocks, c.plane, c.height, c.ld, c.width)
			sameBits(t, wantRows, gotRows, k.name+" "+c.String())
		}
	}
}

// TestWindowsDefinition checks the Go loop itself against the definition
// written out element by element.
func TestWindowsDefinition(t *testing.T) {
	c := windowCase{n: 3, step: 2, blocks: 2, plane: 30, height: 2, ld: 6, width: 3}
	img := make([]float32, c.imgLen())
	for i := range img {
		img[i] = float32(i)
	}
	rows := make([]float32, c.n*c.blocks*c.height*c.width)
	windowsGo(rows, img, c.n, c.step, c.blocks, c.plane, c.height, c.ld, c.width)
	at := 0
	for j := range c.n {
		for b := range c.blocks {
			for r := range c.height {
				for i := range c.width {
					p := j*c.step + b*c.plane + r*c.ld + i
					require.Equal(t, img[p], rows[at], "window %d block %d row %d element %d", j, b, r, i)
					at++
				}
			}
		}
	}
	require.Equal(t, len(rows), at)
}

func TestWindowsChecksLengths(t *testing.T) {
	c := windowCase{n: 4, step: 1, blocks: 3, plane: 40, height: 3, ld: 8, width: 3}
	need := (c.n-1)*c.step + (c.blocks-1)*c.plane + (c.height-1)*c.ld + c.width
	for _, k := range available() {
		short := make([]float32, need-1)
		require.Panics(t, func() {
			k.windows(make([]float32, c.n*c.blocks*c.height*c.width), short, c.n, c.step, c.blocks, c.plane, c.height, c.ld, c.width)
		}, k.name)
		require.Panics(t, func() {
			k.windows(make([]float32, c.n*c.blocks*c.height*c.width-1), make([]float32, need), c.n, c.step, c.blocks, c.plane, c.height, c.ld, c.width)
		}, k.name)
		require.Panics(t, func() { k.windows(nil, nil, -1, 1, 1, 1, 1, 1, 1) }, k.name)
		require.NotPanics(t, func() { k.windows(nil, nil, 0, 1, 1, 1, 1, 1, 1) }, k.name)
	}
}

// BenchmarkWindows gathers one output row of ResNet-20's first and third
// stages (32 windows of 16 channels of 3×3 from a padded 34×34 image; 8
// of 64 channels from 10×10) and of LeNet-5's conv2 (8 windows of 6
// channels of 5×5 from 12×12) per op, with each kernel set, and through
// Windows (the machine's kernels).
func BenchmarkWindows(b *testing.B) {
	for _, s := range []struct {
		name              string
		n, c, side, width int
	}{{"stage1", 32, 16, 34, 3}, {"stage3", 8, 64, 10, 3}, {"lenet2", 8, 6, 12, 5}} {
		img := make([]float32, s.c*s.side*s.side)
		rows := make([]float32, s.n*s.c*s.width*s.width)
		for _, k := range available() {
			b.Run(s.name+"/"+k.name, func(b *testing.B) {
				for b.Loop() {
					k.windows(rows, img, s.n, 1, s.c, s.side*s.side, s.width, s.side, s.width)
				}
			})
		}
		b.Run(s.name+"/Windows", func(b *testing.B) {
			for b.Loop() {
				Windows(rows, img, s.n, 1, s.c, s.side*s.side, s.width, s.side, s.width)
			}
		})
	}
}
