package conv

import "github.com/mirage-go/mirage/internal/gemm"

// Shifted copies for the weight gradient of thin layers.
//
// The implicit weight gradient (weightGradImage) runs one product per
// kernel entry whose rows are the C input channels. Its tiles are 24 rows
// high when there are at most 16 output channels, so a layer of 16 input
// channels (ResNet's first stage) computes 24 rows for 16 — half as much
// arithmetic again. Stacking the KW entries of a kernel row instead makes
// the products KW·C rows high (48 for a 3×3 kernel: two whole tiles): the
// scratch buffer holds KW copies of the padded image, copy s shifted left
// by s floats, so that row (s, c) of one product, read at the same offset
// ky·PW from every copy with rows one plane apart, is the padded image of
// channel c from offset ky·PW + s on — kernel entry (ky, s). Its output rows
// land in the partial gradient exactly where the per-entry products put
// them: (entry ky·KW + s, channel c).

// shiftedWeightRows reports whether weightGradImage stacks shifted copies
// for g with o output channels: when the tile height fits KW·C rows
// exactly but not C rows (at stride 1; the phase images of larger
// strides are not laid out for it).
func shiftedWeightRows(g Geometry, o int) bool {
	if g.Stride != 1 || !g.Implicit() || g.KH > 3 || g.C < 16 || o < 16 {
		return false
	}
	tile := weightGradTile(o)
	return g.C%tile != 0 && g.KW*g.C%tile == 0
}

// weightGradTile is the height of the tiles the GEMM computes the
// per-entry weight-gradient products with: 24 rows for at most 16 output
// channels (the AVX-512 24×16 kernel), 8 otherwise.
func weightGradTile(o int) int {
	if o <= 16 {
		return 24
	}
	return 8
}

// shiftedScratch is the scratch size of weightGradShifted.
func shiftedScratch(g Geometry, o int) int {
	pw := g.W + 2*g.Pad
	plane := (g.H + 2*g.Pad) * pw
	return g.KW*g.C*plane + g.OutH()*pw*o
}

// weightGradShifted is weightGradImage for the geometries where
// shiftedWeightRows holds: image n's weight gradient into part (beta = 0)
// or added to it (beta = 1), part laid out (KH·KW, C, O), with scratch
// buf (len shiftedScratch).
func weightGradShifted(j *job, buf []float32, n int, part []float32, beta float32) {
	g, o := j.g, j.o
	oh, ow := g.OutH(), g.OutW()
	image, out := g.C*g.H*g.W, o*oh*ow
	xn, dyn := j.a[n*image:(n+1)*image], j.b[n*out:(n+1)*out]
	pw := g.W + 2*g.Pad
	plane := (g.H + 2*g.Pad) * pw
	segment := g.C * plane
	grid := oh * pw
	copies, dyT := buf[:g.KW*segment], buf[g.KW*segment:g.KW*segment+grid*o]
	padImage(g, xn, copies[:segment])
	for s := 1; s < g.KW; s++ {
		// The last s floats of a copy stand for the slack past the padded
		// image: only grid positions past a row's end (where dyT is zero)
		// read them, so they need only be finite.
		copy(copies[s*segment:(s+1)*segment-s], copies[s:segment])
		clear(copies[(s+1)*segment-s : (s+1)*segment])
	}
	transposeOntoGrid(dyT, dyn, o, oh, ow, pw, pw)
	rows := g.KW * g.C
	for ky := 0; ky < g.KH; ky++ {
		gemm.SgemmSerial(false, false, rows, o, grid, 1, copies[ky*pw:], plane, dyT, o, beta, part[ky*rows*o:(ky+1)*rows*o], o)
	}
}
