// Package bfpengine is the machinery the block-floating-point backends
// share: bfp (quantisation only), rns (the Mirage emulation: BFP tiles
// computed in residue arithmetic, with phase noise and optional RRNS) and
// analog (BFP tiles read by one ADC). It is not a backend itself; it lets
// those three stay independent packages that import none of each other.
//
// A BFP backend is an [Engine] plus a product function. The engine does
// everything that does not depend on how a tile's dot product is computed:
//
//   - it validates the GEMM and sends layers listed in --fp32-layers to the
//     exact FP32 kernel;
//   - it quantises op(A) by rows and op(B) by columns into BFP blocks of
//     one tile along the reduction dimension (see internal/bfp for the
//     format), in cache-sized chunks, into buffers it reuses;
//   - it calls the backend's [ProductFunc] on the quantised operands; the
//     backend computes C from them (exactly, through residues, or through
//     a noisy converter) and counts what it did in [Counters];
//   - every StatsEvery-th call of a layer and role it also computes the
//     exact FP32 product and records the relative error;
//   - it keeps the counters per layer and role ([Stats], reported as a
//     [Report]) and per GEMM shape (for cost estimates), and saves and
//     restores them with the rounding generator's position, so that a
//     resumed run continues bit for bit (see [Engine.MarshalState]).
//
// The knobs every BFP backend shares are typed here once, so that they
// have the same name, help text and validation in every backend (and the
// same defaults, but for analog's 6-bit mantissas; see DefaultSettings):
// [Settings] (--bfp-bits, --tile, --rounding, --fp32-layers, --noise-seed,
// --stats-every and, where it applies, --tile-accumulation) and [Noise]
// (--noise-sigma, --noise-roles). Each backend's own configuration embeds
// them, binds their flags with [Settings.BindFlags] and [Noise.BindFlags],
// and validates them with their Validate methods:
//
//	type Config struct {
//		bfpengine.Settings
//		Noise   bfpengine.Noise
//		ADCBits int
//	}
//
// A backend's Stats returns the [Report] of its engine's [Stats]; its
// [Report.ErrorStats] method is how reports read the error totals.
//
// # Convolutions
//
// A convolution's products are those of backend.Im2col: the im2col matrix
// cols (positions × receptive field) is the forward product's op(A) and
// the weight gradient's op(B), and the other products use the output
// gradient and the weights. Building cols, 9× the activation for a 3×3
// kernel, only to quantise it, would write and read it once more than
// needed. A backend that is a backend.ColsMultiplier gets cols described
// instead (backend.Cols), and [Engine.MatMulCols] quantises it from rows
// of receptive fields filled a cache-sized chunk at a time straight from
// the image, on all cores (internal/bfp's Quantiser.QuantiseSource): the
// same quantised operand, bit for bit, as from the built matrix, in the
// same chunks, so every product, noise draw and counter is that of the
// im2col path through MatMul, whatever the options (both roundings, both
// tile accumulations, the RNS modes). Two kinds of call build cols after
// all, since they need it in FP32: layers in --fp32-layers, and the calls
// sampled for the relative error (--stats-every, one in 50 by default).
// bfp and rns are Convolvers this way, each with three short methods
// (ConvForward and ConvBackward run their backend.Im2col with themselves,
// MatMulCols calls the engine's); analog can be one the same way.
//
// The forward product of bfp and rns (Grid) goes further where it pays:
// it never gathers the receptive fields at all, but scales them from runs
// of the padded image and lets the GEMM kernel round them as it reads
// them in place, writing the output straight into y (the grid path,
// grid.go), with the same results, draws and counters.
//
// The input gradient's product dcols = dy2d·w is only there for col2im to
// add it onto dx. A backend whose product is the FP32 GEMM of the
// quantised operands (bfp; rns when no readout of the product is wrong)
// is also a backend.Col2imMultiplier: [Engine.MatMulCol2im] quantises the
// operands as MatMul does, and the product function, when
// [Engine.Col2imTarget] allows it, adds the same terms in the same order
// straight onto dx (one GEMM per kernel entry into a padded copy of each
// image, internal/conv's Workers.Col2imProduct) instead of writing dcols.
// analog reads every tile output through its converter, so it writes
// dcols.
//
// The engine's quantiser and the backend's Im2col share one
// parallel.Team ([Engine.Team]), so that the short loops of a product
// (fill and quantise, the GEMM, the rearrangements) do not leave one set
// of helpers spinning on the cores that another needs.
//
// On more than one core, a convolution's blocks of images run on lanes
// ([Engine.LaneEngines], [Engine.RunBlocks]): each block whole on one
// core, with a lane engine of its own whose loops stay on that core, and
// the backend a backend.LaneRunner (bfp, rns and analog each pair a copy
// of themselves with each lane engine). What the blocks share is taken
// in the order of the blocks run one after another — statistics,
// stochastic rounding's keys, noise draws ([Engine.InOrder], usually in
// a backend's [PrepareFunc]) and the weight gradient they add into — so
// a run's results are the same bit for bit as with the blocks one after
// another (see lanes.go).
//
// Package bfptest, below this one, is an independent slow reference of the
// BFP GEMM for the backends' tests.
package bfpengine
