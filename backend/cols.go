package backend

import (
	"fmt"

	"github.com/mirage-go/mirage/internal/conv"
	"github.com/mirage-go/mirage/internal/vec"
)

// Cols is the im2col matrix of a block of images, described rather than
// built: Rows() × Width() (positions × receptive field, columns in
// (c, ky, kx) order), row r being the receptive field of output position
// r. Im2col hands it to a ColsMultiplier, which asks for the rows it needs
// when it needs them (Fill), so that the matrix is never written out whole.
type Cols struct {
	g       conv.Geometry
	x       []float32
	workers *conv.Workers
	// For the forward product: the block's output (NCHW), the bias (or
	// nil) and the output channels, for WriteGrid; wrote records a call.
	y, bias []float32
	o       int
	wrote   bool
	// The grid's shape, found on first use (see layout): images per
	// canvas, columns of a grid row, and of a canvas's grid.
	canvas, rowWidth, width int
}

// layout finds the grid's shape once per block.
func (c *Cols) layout() {
	if c.canvas == 0 {
		c.canvas, c.rowWidth = c.g.GridCanvas(), c.g.GridWidth()
		c.width = c.g.OutH() * c.rowWidth
	}
}

// Rows returns the number of rows, the block's output positions.
func (c *Cols) Rows() int { return c.g.Rows() }

// Width returns the number of columns, the length of a receptive field.
func (c *Cols) Width() int { return c.g.Cols() }

// RowBlock returns the rows of one image, the unit Fill produces most
// cheaply.
func (c *Cols) RowBlock() int { return c.g.OutH() * c.g.OutW() }

// Fill writes rows [r0, r1) into dst (Width() floats per row), row r0
// first, on the calling goroutine. Several goroutines may fill disjoint
// ranges at once, each with its own scratch buffer (grown as needed).
func (c *Cols) Fill(dst []float32, r0, r1 int, scratch *[]float32) {
	conv.Im2colRows(c.g, c.x, dst, r0, r1, scratch)
}

// Build writes the whole matrix into dst (Rows()·Width() floats), on all
// cores: for the products that need it in FP32 after all.
func (c *Cols) Build(dst []float32) { c.workers.Im2col(c.g, c.x, dst) }

// The grid. Transposed, cols is also a product over runs of the images:
// the block's images are padded into canvases of a few images side by
// side (PadCanvas; one image per canvas for all but small images), and
// row (c, ky, kx) of cols' transpose over a canvas's output grid is the
// run of the canvas's buffer starting at GridOffsets' entry (c, ky, kx)
// (the implicit GEMM of internal/conv). A canvas's grid has GridWidth
// columns; output position (row r of cols) is grid column
// GridColumns()[r] counting canvas after canvas, and the grid's other
// columns (past an output row's end, between images) are read but not
// outputs. A backend that can quantise runs reads each pixel from one
// contiguous run per kernel entry, where Fill gathers receptive fields a
// few floats at a time.

// HasGrid reports whether cols can be read as a grid: a square kernel and
// padding below its size, at any stride.
func (c *Cols) HasGrid() bool { return c.g.Implicit() }

// Stride returns the convolution's stride.
func (c *Cols) Stride() int { return c.g.Stride }

// GridFill returns the fraction of grid columns that are outputs: the
// rest is arithmetic a grid product does in vain.
func (c *Cols) GridFill() float64 {
	return float64(c.Rows()) / float64(max(1, c.Canvases()*c.GridWidth()))
}

// Canvases returns the number of canvases of the block.
func (c *Cols) Canvases() int {
	c.layout()
	return (c.g.N + c.canvas - 1) / c.canvas
}

// GridWidth returns the number of grid columns per canvas.
func (c *Cols) GridWidth() int {
	c.layout()
	return c.width
}

// PaddedCanvas returns the length of PadCanvas's buffer.
func (c *Cols) PaddedCanvas() int { return c.g.GridImageLen() }

// PadCanvas writes canvas i of the block into buf (PaddedCanvas floats)
// as the runs read it.
func (c *Cols) PadCanvas(i int, buf []float32) {
	c.layout()
	k, image := c.canvas, c.g.C*c.g.H*c.g.W
	n0, n1 := i*k, min((i+1)*k, c.g.N)
	conv.GridImage(c.g, c.x[n0*image:n1*image], n1-n0, buf)
}

// GridOffsets fills dst (grown if needed) with the start of the run of
// each column of cols, in PadCanvas's buffer.
func (c *Cols) GridOffsets(dst []int) []int { return c.g.GridOffsets(dst) }

// gridRow returns the grid column, counting canvas after canvas, of
// output position (oy, 0) of image n.
func (c *Cols) gridRow(n, oy int) int {
	c.layout()
	return n/c.canvas*c.width + oy*c.rowWidth + n%c.canvas*c.g.GridSlot()
}

// CanWriteGrid reports whether WriteGrid may be called: cols is the
// operand of a forward product, whose output Im2col lets the backend
// write.
func (c *Cols) CanWriteGrid() bool { return c.y != nil }

// WriteGrid writes the block's forward output (N, O, OutH, OutW) from its
// product laid out on the grid, output channel ch of grid column col at
// grid[ch·ld + col] (see GridColumns), adding the bias (or 0) to every
// element as one FP32 addition, as Im2col does to the rows of C. A
// ColsMultiplier whose MatMulCols of role Forward calls it leaves g.C
// unwritten: Im2col then takes the output as it is. It panics unless
// CanWriteGrid.
func (c *Cols) WriteGrid(grid []float32, ld int) {
	if !c.CanWriteGrid() {
		panic("backend.Cols.WriteGrid: not the operand of a forward product (check CanWriteGrid first)")
	}
	oh, ow := c.g.OutH(), c.g.OutW()
	_ = grid[(c.o-1)*ld+c.Canvases()*c.GridWidth()-1]
	for n := range c.g.N {
		for ch := range c.o {
			var add float32
			if c.bias != nil {
				add = c.bias[ch]
			}
			plane := c.y[(n*c.o+ch)*oh*ow : (n*c.o+ch+1)*oh*ow]
			for oy := range oh {
				at := ch*ld + c.gridRow(n, oy)
				vec.Axpb(plane[oy*ow:(oy+1)*ow], grid[at:at+ow], 1, add)
			}
		}
	}
	c.wrote = true
}

// GridColumns fills dst (grown if needed) with the grid column of every
// row of cols, counting canvas after canvas.
func (c *Cols) GridColumns(dst []int32) []int32 {
	oh, ow := c.g.OutH(), c.g.OutW()
	n := c.g.N * oh * ow
	if cap(dst) < n {
		dst = make([]int32, n)
	}
	dst = dst[:n]
	r := 0
	for img := range c.g.N {
		for oy := range oh {
			base := c.gridRow(img, oy)
			for ox := range ow {
				dst[r] = int32(base + ox)
				r++
			}
		}
	}
	return dst
}

// ColsMultiplier is an optional capability of a Backend that Im2col uses:
// a backend that can multiply by an im2col matrix given as Cols (filling
// the rows it needs as it goes) instead of a built one. Im2col then
// computes exactly the products it would send to MatMul, in the same
// blocks, with the cols operand described instead of built; the backend
// must return what MatMul returns on the built matrix, bit for bit, with
// the same statistics and random-generator state.
type ColsMultiplier interface {
	Backend
	// MatMulCols is MatMul with one operand given as cols: either g.A is
	// nil and op(A) = cols (role Forward: M = Rows(), K = Width(), not
	// TransA), or g.B is nil and op(B) = cols (role GradWeight:
	// K = Rows(), N = Width(), not TransB). Nothing else of cols is read.
	//
	// For role Forward the backend may instead write the product, bias
	// added, straight into the convolution's output with
	// cols.WriteGrid, when cols.CanWriteGrid.
	MatMulCols(call Call, g GEMM, cols *Cols) error
}

// ValidateCols is Validate for a GEMM of MatMulCols: exactly one of g.A
// and g.B nil, standing for cols, which must have the shape of that
// operand; the other operands as Validate checks them.
func (g *GEMM) ValidateCols(cols *Cols) error {
	v := *g
	switch {
	case g.A == nil && g.B != nil:
		if g.TransA || cols.Rows() != g.M || cols.Width() != g.K {
			return fmt.Errorf("gemm: cols of %dx%d cannot be op(A) of %dx%d (transposed %v)", cols.Rows(), cols.Width(), g.M, g.K, g.TransA)
		}
		v.M = 0 // A is cols; check B alone ...
		if err := v.Validate(); err != nil {
			return err
		}
		return checkOperand("C", g.C, g.M, g.N, g.LDC) // ... and C in full
	case g.B == nil && g.A != nil:
		if g.TransB || cols.Rows() != g.K || cols.Width() != g.N {
			return fmt.Errorf("gemm: cols of %dx%d cannot be op(B) of %dx%d (transposed %v)", cols.Rows(), cols.Width(), g.K, g.N, g.TransB)
		}
		v.N = 0
		if err := v.Validate(); err != nil {
			return err
		}
		return checkOperand("C", g.C, g.M, g.N, g.LDC)
	}
	return fmt.Errorf("gemm: exactly one of A and B must be nil to stand for cols")
}

// Col2im is where Im2col adds the input gradient's product of a block of
// images: dcols = dy2d·w (role GradInput), which col2im adds onto the
// block's dx (or writes, for the first gradient). Im2col hands it to a
// Col2imMultiplier, which may add the product onto dx itself
// (AddProduct), without dcols.
type Col2im struct {
	g       conv.Geometry
	dx      []float32
	assign  bool
	workers *conv.Workers
	done    bool
}

// ProductOK reports whether AddProduct can add the product of o output
// channels for this block: a stride-1 convolution with at most
// gemm.KBlock output channels, zero-padded or with dx written rather than
// added to (see conv.Col2imProductOK).
func (t *Col2im) ProductOK(o int) bool { return conv.Col2imProductOK(t.g, o, t.assign) }

// AddProduct adds (or writes) col2im of dy2d·w onto dx, for the output
// gradient dy2dᵀ stored channel-major (o rows of ldy ≥ positions floats)
// and the weights w (o × Width(), finite), on all cores: bit for bit what
// a GEMM product of K = o into dcols followed by col2im gives (see
// conv.Workers.Col2imProduct). It panics unless ProductOK(o): for other
// geometries it would add the wrong terms.
func (t *Col2im) AddProduct(o int, dy []float32, ldy int, w []float32) {
	if !t.ProductOK(o) {
		panic(fmt.Sprintf("backend.Col2im.AddProduct: %d output channels over %+v: not a product it can add (check ProductOK first)", o, t.g))
	}
	t.workers.Col2imProduct(t.g, o, dy, ldy, w, t.dx, t.assign)
	t.done = true
}

// Col2imMultiplier is an optional capability of a Backend that Im2col uses
// for the input gradient: a backend that may add the product onto dx
// itself instead of returning dcols for col2im. Backends whose product is
// a plain FP32 GEMM of quantised operands (bfp) skip writing dcols and
// reading it back.
type Col2imMultiplier interface {
	Backend
	// MatMulCol2im is MatMul for the product g of role GradInput
	// (M = positions, N = Width(), K = O, A the output gradient stored
	// channel-major, TransA), which Im2col then adds onto dx by col2im:
	// the backend either computes g.C as MatMul does, and col2im follows,
	// or calls dst.AddProduct with operands for which that gives bit for
	// bit the same dx. Statistics and random generators end as after
	// MatMul.
	MatMulCol2im(call Call, g GEMM, dst *Col2im) error
}
