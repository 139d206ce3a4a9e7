package conv

// Canvases: several small images on one grid.
//
// The implicit GEMM of a stride-1 convolution computes a grid of OH rows at
// the padded width PW = W + 2·Pad, OH·(PW−OW) positions more than the
// output has, and the GEMM rounds the grid up to whole tiles of 32
// columns. On the 8×8 images of a ResNet's last stage that is 80 grid
// positions, 96 computed, for 64 outputs: half as much arithmetic again.
// Placing k images side by side on one zero-padded canvas, each with Pad
// zero columns between it and the next (shared as the right padding of one
// image and the left padding of the next), makes one grid for k images,
//
//	canvas width CW = k·(W + Pad) + Pad,   image i at columns Pad + i·(W+Pad) …,
//
// whose output position ox of image i is grid column i·(W+Pad) + ox. The
// offsets of the kernel entries are those of one padded image of width CW,
// so every output sums exactly the terms, in exactly the order, of the
// one-image grid. For 8×8 images with a 3×3 kernel, 3 images make a grid
// of 8·28 = 224 columns, 7 whole tiles, for 192 outputs.
//
// The input gradient's grid is the same construction on dy padded by
// KH−1−Pad, and the weight gradient's products take their reduction over
// the canvas grid, with dy zero at the positions that are not outputs.

// maxCanvas bounds a canvas (C planes of (H+2·Pad)·CW floats), so that it
// and its grid stay in a core's L2 cache.
const maxCanvas = 1 << 16

// gridImages returns how many images share one grid (one canvas) for the
// stride-1 implicit kernels of g: the k ≤ 8 that minimises the columns
// computed for the whole batch (tiles of 32 columns, a last canvas that
// is partly empty), when that saves at least 15% over one image per grid,
// and 1 otherwise (always at stride > 1).
func (g Geometry) gridImages() int {
	if g.Stride != 1 || !g.Implicit() || g.N < 2 {
		return 1
	}
	oh := g.OutH()
	const tile = 32
	cost := func(k int) int {
		grid := oh * g.canvasWidth(k)
		return (g.N + k - 1) / k * ((grid + tile - 1) / tile * tile)
	}
	best, bestCost := 1, cost(1)
	for k := 2; k <= min(8, g.N); k++ {
		if g.C*(g.H+2*g.Pad)*g.canvasWidth(k) > maxCanvas {
			break
		}
		if c := cost(k); c < bestCost {
			best, bestCost = k, c
		}
	}
	if float64(bestCost) > 0.85*float64(cost(1)) {
		return 1
	}
	return best
}

// canvasWidth returns the width of a canvas of k images of g: each image
// followed by Pad zero columns, after Pad leading ones.
func (g Geometry) canvasWidth(k int) int { return k*(g.W+g.Pad) + g.Pad }

// padCanvas writes the canvas of k slots of g (C planes of (H+2·Pad)×CW)
// into buf: slot i holds image i of imgs for i < count (imgs holds count
// whole images, one after the other) and zeros for count ≤ i < k. With
// k = 1 (and so count = 1) it is padImage.
func padCanvas(g Geometry, imgs []float32, count, k int, buf []float32) {
	if k == 1 {
		padImage(g, imgs, buf)
		return
	}
	p := g.Pad
	cw, ph := g.canvasWidth(k), g.H+2*p
	image := g.C * g.H * g.W
	for c := 0; c < g.C; c++ {
		plane := buf[c*ph*cw : (c+1)*ph*cw]
		clear(plane[:p*cw])
		for y := 0; y < g.H; y++ {
			row := plane[(p+y)*cw : (p+y+1)*cw]
			at := 0
			for i := 0; i < k; i++ {
				zeroShort(row[at : at+p])
				at += p
				dst := row[at : at+g.W]
				at += g.W
				if i >= count {
					clear(dst)
					continue
				}
				src := imgs[i*image+(c*g.H+y)*g.W:]
				copy(dst, src[:g.W])
			}
			zeroShort(row[at:])
		}
		clear(plane[(p+g.H)*cw:])
	}
}
