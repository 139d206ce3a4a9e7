package backend

import (
	"fmt"
	"runtime"

	"github.com/mirage-go/mirage/internal/conv"
	"github.com/mirage-go/mirage/internal/parallel"
)

// Im2col computes convolutions as im2col matrix products sent to a
// backend's MatMul: the reference path of the Convolver contract, which
// autograd runs for backends that do not implement Convolver, and which
// wrappers and tests use to compare a Convolver with.
//
// The products run on blocks of whole images (see ImagesPerBlock), each
// block's part of cols sized to stay in the CPU cache between im2col
// writing it and the GEMM reading it; the backward pass recomputes it (in
// cache) instead of keeping the whole matrix. What each backend computes
// does not change:
//
//   - forward and dX: a block is a block of rows of the product, and a row
//     block of a product is exactly the product of the row block (block
//     floating point quantises each row, and each column of the other
//     operand, independently);
//   - dW reduces over the batch: each block adds its part into dw
//     (Accumulate), and blocks hold a multiple of 512 rows (all but the
//     last), so a backend that tiles the reduction in tiles of any length
//     dividing 512 (BFP and RNS tiles of 1, 2, 4, …, 512) sees exactly the
//     tiles of one GEMM over the batch, summed in order.
//
// Only the number of calls a backend sees grows (one per block and role).
//
// A backend that implements ColsMultiplier gets the cols operand of the
// forward and weight-gradient products as a Cols, which it fills as it
// needs it, instead of built: the same products in the same blocks, without
// writing out the im2col matrix.
//
// A backend that implements LaneRunner gets the blocks run on several
// cores at once, each block whole on one core: forward blocks write
// disjoint images of y; backward blocks write disjoint images of dx and
// add into dw one after another, in block order, as here.
//
// The zero value is ready to use; it keeps its scratch buffers from one
// call to the next. An Im2col is used by one goroutine at a time.
type Im2col struct {
	// one is the scratch of the blocks run one after another, on workers
	// (parallel loops); lanes are the LaneRunner's lanes', each with
	// workers of its own whose loops stay on its goroutine.
	workers   conv.Workers
	one       blockScratch
	lanes     []*blockScratch
	laneCalls [2]Call
	job       convJob
	// forwardLane and backwardLane as method values, made once
	fwdLane, bwdLane func(lane ColsMultiplier, l, i int) error
}

// blockScratch is what one block of images needs on the goroutine that
// runs it: the block's rows of the forward product, its output gradient
// as rows of channels, dcols, cols (built only for a backend that is not
// a ColsMultiplier) or their descriptions, and the workers it runs its
// loops on.
type blockScratch struct {
	workers                *conv.Workers
	rows, dyT, dcols, cols []float32
	desc                   Cols
	dest                   Col2im
}

// UseTeam makes c run its loops (im2col, col2im, the rearrangements) on
// team's goroutines, shared with the caller's other loops, instead of a
// team of its own.
func (c *Im2col) UseTeam(team *parallel.Team) { c.workers.UseTeam(team) }

// dropDesc forgets the last blocks' Cols and Col2im, so that c keeps no
// reference to the caller's images.
func (c *Im2col) dropDesc() {
	c.one.desc, c.one.dest = Cols{}, Col2im{}
	for _, ln := range c.lanes {
		ln.desc, ln.dest = Cols{}, Col2im{}
	}
	c.job = convJob{}
}

// convBlockElems is the size, in float32s, of the largest per-block matrix
// of a convolution (its part of cols, usually): 512 Ki elements, 2 MiB,
// about one core's L2 cache, so that the GEMM reads what im2col just wrote
// (and col2im what the GEMM just wrote) from cache.
const convBlockElems = 1 << 19

// ConvTileAlign is what the number of rows (positions) of every block of
// Im2col but the last is a multiple of, so that the dW product's reduction
// is cut at the same places as the tiles of any backend tiling it in
// lengths dividing 512.
const ConvTileAlign = 512

// ImagesPerBlock returns how many images Im2col puts in one block for
// geometry g: about convBlockElems in the largest per-block matrix, at
// least one image, and a count whose rows (images·positions) are a
// multiple of ConvTileAlign — rounded down, or up to the smallest such
// count when that is above the cache budget (then blocks are larger than
// the cache, never misaligned). Among aligned counts within the budget it
// prefers multiples of GOMAXPROCS, so the parallel kernels split a block
// evenly.
func (g ConvGeometry) ImagesPerBlock() int {
	return imagesPerBlock(g.OutH()*g.OutW(), max(g.Field(), g.O))
}

func imagesPerBlock(positions, width int) int {
	step := ConvTileAlign / gcd(ConvTileAlign, max(positions, 1)) // smallest aligned image count
	n := convBlockElems / max(positions*width, 1)
	n -= n % step
	if n < step {
		return step
	}
	workers := runtime.GOMAXPROCS(0)
	if m := n - n%lcm(step, workers); m >= step {
		n = m
	}
	return n
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func lcm(a, b int) int { return a / gcd(a, b) * b }

func (g ConvGeometry) internal() conv.Geometry {
	return conv.Geometry{N: g.N, C: g.C, H: g.H, W: g.W, KH: g.KH, KW: g.KW, Stride: g.Stride, Pad: g.Pad}
}

func growFloats(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// Forward computes b's forward product of the convolution of layer as
// im2col GEMMs through b.MatMul, block by block, into y (N, O, OutH, OutW),
// adding bias when it is not nil. On an error y is all zeros.
func (c *Im2col) Forward(b Backend, layer string, g ConvGeometry, x, w, bias, y []float32) error {
	call := Call{Layer: layer, Role: Forward}
	if err := g.CheckForward(x, w, bias, y); err != nil {
		return fmt.Errorf("%s %s: %w", layer, Forward, err)
	}
	defer c.dropDesc()
	c.laneCalls[0] = call
	c.job = convJob{g: g, cg: g.internal(), block: g.ImagesPerBlock(), x: x, w: w, bias: bias, y: y, calls: c.laneCalls[:1]}
	if err := c.runBlocks(b, false); err != nil {
		clear(y[:g.N*g.O*g.OutH()*g.OutW()])
		return fmt.Errorf("%s %s: %w", layer, Forward, err)
	}
	return nil
}

// convJob is the convolution that Im2col is running, block by block.
type convJob struct {
	g                 ConvGeometry
	cg                conv.Geometry
	block             int
	x, w, bias, y, dy []float32
	grads             ConvGrads
	calls             []Call
}

// blockOf returns block i's geometry, its images [n0, n1) and its rows
// (positions) in the im2col matrix.
func (j *convJob) blockOf(i int) (blk conv.Geometry, n0, n1, rows int) {
	n0, n1 = i*j.block, min((i+1)*j.block, j.g.N)
	blk = j.cg
	blk.N = n1 - n0
	return blk, n0, n1, (n1 - n0) * j.g.OutH() * j.g.OutW()
}

// cols returns block i's part of the im2col matrix as b takes it:
// described (op is nil, for a ColsMultiplier) or built in sc.cols.
func (c *Im2col) cols(b Backend, sc *blockScratch, i int) (desc *Cols, built []float32) {
	j := &c.job
	blk, n0, n1, rb := j.blockOf(i)
	imageIn := j.g.C * j.g.H * j.g.W
	if _, ok := b.(ColsMultiplier); ok {
		sc.desc = Cols{g: blk, x: j.x[n0*imageIn : n1*imageIn], workers: sc.workers}
		return &sc.desc, nil
	}
	sc.cols = growFloats(sc.cols, rb*j.g.Field())
	sc.workers.Im2col(blk, j.x[n0*imageIn:n1*imageIn], sc.cols)
	return nil, sc.cols
}

// forwardBlock computes block i of the forward product through b, with
// sc's scratch.
func (c *Im2col) forwardBlock(b Backend, sc *blockScratch, i int) error {
	j := &c.job
	g := j.g
	k, o, positions := g.Field(), g.O, g.OutH()*g.OutW()
	_, n0, n1, rb := j.blockOf(i)
	sc.rows = growFloats(sc.rows, rb*o)
	req := GEMM{M: rb, N: o, K: k, LDA: k, B: j.w, LDB: k, TransB: true, C: sc.rows, LDC: o}
	var err error
	y := j.y[n0*o*positions : n1*o*positions]
	desc, built := c.cols(b, sc, i)
	if desc != nil {
		desc.y, desc.bias, desc.o = y, j.bias, o
		err = b.(ColsMultiplier).MatMulCols(j.calls[0], req, desc)
	} else {
		req.A = built
		err = b.MatMul(j.calls[0], req)
	}
	if err != nil {
		return err
	}
	if desc == nil || !desc.wrote { // (else the backend wrote y itself)
		sc.workers.RowsToNCHW(sc.rows[:rb*o], j.bias, y, n1-n0, o, positions)
	}
	return nil
}

// forwardLane and backwardLane run block i on lane l.
func (c *Im2col) forwardLane(lane ColsMultiplier, l, i int) error {
	return c.forwardBlock(lane, c.lanes[l], i)
}

func (c *Im2col) backwardLane(lane ColsMultiplier, l, i int) error {
	return c.backwardBlock(lane, c.lanes[l], i)
}

// backwardBlock computes block i's gradients through b, with sc's
// scratch: the input gradient, then the weight gradient, added into dw
// after the blocks before (by b, when it runs blocks on lanes).
func (c *Im2col) backwardBlock(b Backend, sc *blockScratch, i int) error {
	j := &c.job
	g := j.g
	k, o, positions, imageIn := g.Field(), g.O, g.OutH()*g.OutW(), g.C*g.H*g.W
	gx, gw := j.grads.DX, j.grads.DW
	blk, n0, n1, rb := j.blockOf(i)
	sc.dyT = growFloats(sc.dyT, o*rb)
	sc.workers.ChannelRows(j.dy[n0*o*positions:n1*o*positions], sc.dyT, n1-n0, o, positions)
	d, deferring := b.(Deferrer)
	if deferring { // both gradients drawn for before either is multiplied
		d.Defer()
	}
	var gxb []float32
	if gx != nil {
		call := j.calls[0]
		gxb = gx[n0*imageIn : n1*imageIn]
		sc.dcols = growFloats(sc.dcols, rb*k)
		req := GEMM{M: rb, N: k, K: o, A: sc.dyT, LDA: rb, TransA: true, B: j.w, LDB: k, C: sc.dcols, LDC: k}
		var err error
		sc.dest = Col2im{g: blk, dx: gxb, assign: j.grads.AssignDX, workers: sc.workers}
		if cc, ok := b.(Col2imMultiplier); ok {
			err = cc.MatMulCol2im(call, req, &sc.dest)
		} else {
			err = b.MatMul(call, req)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", call.Layer, GradInput, err)
		}
	}
	if gw != nil {
		call := j.calls[len(j.calls)-1]
		req := GEMM{M: o, N: k, K: rb, A: sc.dyT, LDA: rb, LDB: k, C: gw, LDC: k, Accumulate: true}
		var err error
		if desc, built := c.cols(b, sc, i); desc != nil {
			err = b.(ColsMultiplier).MatMulCols(call, req, desc)
		} else {
			req.B = built
			err = b.MatMul(call, req)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", call.Layer, GradWeight, err)
		}
	}
	if deferring {
		if err := d.Flush(); err != nil {
			return fmt.Errorf("%s backward: %w", j.calls[0].Layer, err)
		}
	}
	if gx != nil {
		switch {
		case sc.dest.done: // the backend added the block's gradient onto dx
		case j.grads.AssignDX:
			sc.workers.Col2imAssign(blk, sc.dcols, gxb) // zeroed image by image, while in cache
		default:
			sc.workers.Col2im(blk, sc.dcols, gxb)
		}
	}
	return nil
}

// runBlocks runs every block of c.job's forward product, or of its
// gradients (backward), through b: on b's lanes when b is a LaneRunner
// that gives the job more than one, else one after another with c's own
// scratch and workers. It returns the first failing block's error.
func (c *Im2col) runBlocks(b Backend, backward bool) error {
	j := &c.job
	blocks := (j.g.N + j.block - 1) / j.block
	if lr, ok := b.(LaneRunner); ok {
		if n := lr.Lanes(j.calls, blocks); n > 1 {
			c.growLanes(n)
			if backward {
				return lr.RunLanes(j.calls, blocks, c.bwdLane)
			}
			return lr.RunLanes(j.calls, blocks, c.fwdLane)
		}
	}
	c.one.workers = &c.workers
	for i := range blocks {
		var err error
		if backward {
			err = c.backwardBlock(b, &c.one, i)
		} else {
			err = c.forwardBlock(b, &c.one, i)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// growLanes makes c's scratch for n lanes.
func (c *Im2col) growLanes(n int) {
	if c.fwdLane == nil {
		c.fwdLane, c.bwdLane = c.forwardLane, c.backwardLane
	}
	for len(c.lanes) < n {
		w := new(conv.Workers)
		w.UseTeam(parallel.NewSerial())
		c.lanes = append(c.lanes, &blockScratch{workers: w})
	}
}

// Backward computes b's gradient products of the convolution of layer as
// im2col GEMMs through b.MatMul, block by block: per block, dyT, the
// block's output gradient as an O × rows matrix (row ch is channel ch of
// each image in turn, copied from dy); for dX, dcols = dyTᵀ·w then col2im;
// for dW, cols recomputed and dw += dyT·cols.
func (c *Im2col) Backward(b Backend, layer string, g ConvGeometry, x, w, dy []float32, grads ConvGrads) error {
	if err := g.CheckBackward(x, w, dy, grads); err != nil {
		return fmt.Errorf("%s backward: %w", layer, err)
	}
	if grads.DX == nil && grads.DW == nil {
		return nil
	}
	defer c.dropDesc()
	calls := c.laneCalls[:0]
	if grads.DX != nil {
		calls = append(calls, Call{Layer: layer, Role: GradInput})
	}
	if grads.DW != nil {
		calls = append(calls, Call{Layer: layer, Role: GradWeight})
	}
	c.job = convJob{g: g, cg: g.internal(), block: g.ImagesPerBlock(), x: x, w: w, dy: dy, grads: grads, calls: calls}
	return c.runBlocks(b, true)
}
