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
// have the same name, default, help text and validation in every backend:
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
// Package bfptest, below this one, is an independent slow reference of the
// BFP GEMM for the backends' tests.
package bfpengine
