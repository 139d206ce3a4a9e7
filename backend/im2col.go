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
	workers                conv.Workers
	cols, rows, dyT, dcols []float32
	desc                   Cols   // the block's cols, for a ColsMultiplier
	dest                   Col2im // the block's dx, for a Col2imMultiplier
	lanes                  []*im2colLane
	laneCalls              [2]Call
	job                    laneJob
	// forwardBlock and backwardBlock as method values, made once
	fwdBlock, bwdBlock func(lane ColsMultiplier, l, i int) error
}

// im2colLane is the scratch of one lane of a LaneRunner: the block's rows
// of the product and its cols, and workers whose loops run on the lane's
// goroutine.
type im2colLane struct {
	workers          conv.Workers
	rows, dyT, dcols []float32
	desc             Cols
	dest             Col2im
}

// UseTeam makes c run its loops (im2col, col2im, the rearrangements) on
// team's goroutines, shared with the caller's other loops, instead of a
// team of its own.
func (c *Im2col) UseTeam(team *parallel.Team) { c.workers.UseTeam(team) }

// dropDesc forgets the last block's Cols, so that c keeps no reference to
// the caller's images.
func (c *Im2col) dropDesc() {
	c.desc, c.dest = Cols{}, Col2im{}
	for k := range c.lanes {
		c.lanes[k].desc, c.lanes[k].dest = Cols{}, Col2im{}
	}
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
	cg := g.internal()
	k, o := g.Field(), g.O
	positions := g.OutH() * g.OutW()
	imageIn := g.C * g.H * g.W
	block := g.ImagesPerBlock()
	blockRows := min(block, g.N) * positions
	cm, described := b.(ColsMultiplier)
	defer c.dropDesc()
	if lr, ok := b.(LaneRunner); ok {
		c.laneCalls[0] = call
		if n := lr.Lanes(c.laneCalls[:1], (g.N+block-1)/block); n > 1 {
			return c.forwardLanes(lr, n, g, x, w, bias, y)
		}
	}
	if !described {
		c.cols = growFloats(c.cols, blockRows*k)
	}
	c.rows = growFloats(c.rows, blockRows*o)
	for n0 := 0; n0 < g.N; n0 += block {
		n1 := min(n0+block, g.N)
		blk := cg // the geometry of this block of images
		blk.N = n1 - n0
		rb := (n1 - n0) * positions
		var err error
		if req := (GEMM{M: rb, N: o, K: k, LDA: k, B: w, LDB: k, TransB: true, C: c.rows, LDC: o}); described {
			c.desc = Cols{g: blk, x: x[n0*imageIn : n1*imageIn], workers: &c.workers}
			err = cm.MatMulCols(call, req, &c.desc)
		} else {
			c.workers.Im2col(blk, x[n0*imageIn:n1*imageIn], c.cols[:rb*k])
			req.A = c.cols
			err = b.MatMul(call, req)
		}
		if err != nil {
			clear(y[:g.N*o*positions])
			return fmt.Errorf("%s %s: %w", layer, Forward, err)
		}
		c.workers.RowsToNCHW(c.rows[:rb*o], bias, y[n0*o*positions:n1*o*positions], n1-n0, o, positions)
	}
	return nil
}

// laneJob is the convolution that Im2col's lanes are running, read by
// forwardBlock and backwardBlock (method values made once, so that
// handing them to RunLanes allocates nothing).
type laneJob struct {
	g                 ConvGeometry
	cg                conv.Geometry
	block             int
	x, w, bias, y, dy []float32
	grads             ConvGrads
	calls             []Call
}

// blockOf returns block i's geometry, its images [n0, n1) and its rows
// (positions) in the im2col matrix.
func (j *laneJob) blockOf(i int) (blk conv.Geometry, n0, n1, rows int) {
	n0, n1 = i*j.block, min((i+1)*j.block, j.g.N)
	blk = j.cg
	blk.N = n1 - n0
	return blk, n0, n1, (n1 - n0) * j.g.OutH() * j.g.OutW()
}

// forwardLanes is Forward on n lanes of lr.
func (c *Im2col) forwardLanes(lr LaneRunner, n int, g ConvGeometry, x, w, bias, y []float32) error {
	c.growLanes(n)
	c.job = laneJob{g: g, cg: g.internal(), block: g.ImagesPerBlock(), x: x, w: w, bias: bias, y: y, calls: c.laneCalls[:1]}
	err := lr.RunLanes(c.job.calls, (g.N+c.job.block-1)/c.job.block, c.fwdBlock)
	layer := c.job.calls[0].Layer
	c.job = laneJob{}
	if err != nil {
		clear(y[:g.N*g.O*g.OutH()*g.OutW()])
		return fmt.Errorf("%s %s: %w", layer, Forward, err)
	}
	return nil
}

// forwardBlock computes block i of the forward product on lane l.
func (c *Im2col) forwardBlock(lane ColsMultiplier, l, i int) error {
	j, ln := &c.job, c.lanes[l]
	g := j.g
	k, o, positions, imageIn := g.Field(), g.O, g.OutH()*g.OutW(), g.C*g.H*g.W
	blk, n0, n1, rb := j.blockOf(i)
	ln.rows = growFloats(ln.rows, rb*o)
	ln.desc = Cols{g: blk, x: j.x[n0*imageIn : n1*imageIn], workers: &ln.workers}
	req := GEMM{M: rb, N: o, K: k, LDA: k, B: j.w, LDB: k, TransB: true, C: ln.rows, LDC: o}
	if err := lane.MatMulCols(j.calls[0], req, &ln.desc); err != nil {
		return err
	}
	ln.workers.RowsToNCHW(ln.rows[:rb*o], j.bias, j.y[n0*o*positions:n1*o*positions], n1-n0, o, positions)
	return nil
}

// backwardLanes is Backward on n lanes of lr: each lane takes a block,
// computes its input gradient, then its weight gradient, which lr adds
// into dw after the blocks before it, as Backward adds them.
func (c *Im2col) backwardLanes(lr LaneRunner, n int, calls []Call, g ConvGeometry, x, w, dy []float32, grads ConvGrads) error {
	c.growLanes(n)
	c.job = laneJob{g: g, cg: g.internal(), block: g.ImagesPerBlock(), x: x, w: w, dy: dy, grads: grads, calls: calls}
	err := lr.RunLanes(calls, (g.N+c.job.block-1)/c.job.block, c.bwdBlock)
	c.job = laneJob{}
	return err
}

// backwardBlock computes block i's gradients on lane l.
func (c *Im2col) backwardBlock(lane ColsMultiplier, l, i int) error {
	j, ln := &c.job, c.lanes[l]
	g := j.g
	k, o, positions, imageIn := g.Field(), g.O, g.OutH()*g.OutW(), g.C*g.H*g.W
	gx, gw := j.grads.DX, j.grads.DW
	blk, n0, n1, rb := j.blockOf(i)
	ln.dyT = growFloats(ln.dyT, o*rb)
	ln.workers.ChannelRows(j.dy[n0*o*positions:n1*o*positions], ln.dyT, n1-n0, o, positions)
	d, deferring := lane.(Deferrer)
	if deferring { // both gradients drawn for before either is multiplied
		d.Defer()
	}
	var gxb []float32
	if gx != nil {
		call := j.calls[0]
		gxb = gx[n0*imageIn : n1*imageIn]
		ln.dcols = growFloats(ln.dcols, rb*k)
		req := GEMM{M: rb, N: k, K: o, A: ln.dyT, LDA: rb, TransA: true, B: j.w, LDB: k, C: ln.dcols, LDC: k}
		var err error
		ln.dest = Col2im{g: blk, dx: gxb, assign: j.grads.AssignDX, workers: &ln.workers}
		if cc, ok := lane.(Col2imMultiplier); ok {
			err = cc.MatMulCol2im(call, req, &ln.dest)
		} else {
			err = lane.MatMul(call, req)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", call.Layer, GradInput, err)
		}
	}
	if gw != nil {
		call := j.calls[len(j.calls)-1]
		ln.desc = Cols{g: blk, x: j.x[n0*imageIn : n1*imageIn], workers: &ln.workers}
		req := GEMM{M: o, N: k, K: rb, A: ln.dyT, LDA: rb, LDB: k, C: gw, LDC: k, Accumulate: true}
		if err := lane.MatMulCols(call, req, &ln.desc); err != nil { // added into dw in block order (LaneRunner)
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
		case ln.dest.done:
		case j.grads.AssignDX:
			ln.workers.Col2imAssign(blk, ln.dcols, gxb)
		default:
			ln.workers.Col2im(blk, ln.dcols, gxb)
		}
	}
	return nil
}

// growLanes makes c's scratch for n lanes.
func (c *Im2col) growLanes(n int) {
	if c.fwdBlock == nil {
		c.fwdBlock, c.bwdBlock = c.forwardBlock, c.backwardBlock
	}
	for len(c.lanes) < n {
		ln := new(im2colLane) // by pointer: its workers keep method values bound to it
		ln.workers.UseTeam(parallel.NewSerial())
		c.lanes = append(c.lanes, ln)
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
	gx, gw := grads.DX, grads.DW
	if gx == nil && gw == nil {
		return nil
	}
	cg := g.internal()
	k, o := g.Field(), g.O
	positions := g.OutH() * g.OutW()
	imageIn := g.C * g.H * g.W
	block := g.ImagesPerBlock()
	blockRows := min(block, g.N) * positions
	cm, described := b.(ColsMultiplier)
	defer c.dropDesc()
	if lr, ok := b.(LaneRunner); ok {
		calls := c.laneCalls[:0]
		if gx != nil {
			calls = append(calls, Call{Layer: layer, Role: GradInput})
		}
		if gw != nil {
			calls = append(calls, Call{Layer: layer, Role: GradWeight})
		}
		if n := lr.Lanes(calls, (g.N+block-1)/block); n > 1 {
			return c.backwardLanes(lr, n, calls, g, x, w, dy, grads)
		}
	}
	c.dyT = growFloats(c.dyT, o*blockRows)
	if gw != nil && !described {
		c.cols = growFloats(c.cols, blockRows*k)
	}
	if gx != nil {
		c.dcols = growFloats(c.dcols, blockRows*k)
	}
	for n0 := 0; n0 < g.N; n0 += block {
		n1 := min(n0+block, g.N)
		rb := (n1 - n0) * positions
		c.workers.ChannelRows(dy[n0*o*positions:n1*o*positions], c.dyT[:o*rb], n1-n0, o, positions)
		blk := cg
		blk.N = n1 - n0
		if gx != nil {
			db := c.dcols[:rb*k]
			gxb := gx[n0*imageIn : n1*imageIn]
			call := Call{Layer: layer, Role: GradInput}
			req := GEMM{M: rb, N: k, K: o, A: c.dyT[:o*rb], LDA: rb, TransA: true, B: w, LDB: k, C: db, LDC: k}
			var err error
			if cc, ok := b.(Col2imMultiplier); ok {
				c.dest = Col2im{g: blk, dx: gxb, assign: grads.AssignDX, workers: &c.workers}
				err = cc.MatMulCol2im(call, req, &c.dest)
			} else {
				err = b.MatMul(call, req)
			}
			if err != nil {
				return fmt.Errorf("%s %s: %w", layer, GradInput, err)
			}
			switch {
			case c.dest.done: // the backend added the block's gradient onto dx
			case grads.AssignDX:
				c.workers.Col2imAssign(blk, db, gxb) // zeroed image by image, while in cache
			default:
				c.workers.Col2im(blk, db, gxb)
			}
		}
		if gw != nil {
			call := Call{Layer: layer, Role: GradWeight}
			req := GEMM{M: o, N: k, K: rb, A: c.dyT[:o*rb], LDA: rb, LDB: k, C: gw, LDC: k, Accumulate: true}
			var err error
			if described {
				c.desc = Cols{g: blk, x: x[n0*imageIn : n1*imageIn], workers: &c.workers}
				err = cm.MatMulCols(call, req, &c.desc)
			} else {
				c.workers.Im2col(blk, x[n0*imageIn:n1*imageIn], c.cols[:rb*k])
				req.B = c.cols[:rb*k]
				err = b.MatMul(call, req)
			}
			if err != nil {
				return fmt.Errorf("%s %s: %w", layer, GradWeight, err)
			}
		}
	}
	return nil
}
