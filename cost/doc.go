// Package cost is an analytic hardware cost model: what the GEMMs of a
// training run would cost in time, energy, energy-delay product (EDP) and
// power on a Mirage-like RNS photonic accelerator and on a digital
// systolic array.
//
// # Input: records, not calls
//
// The model prices [Record]s: Count GEMMs C(M×N) = A(M×K)·B(K×N) of one
// layer and role with one shape, with the number of tile dot products they
// computed and how many of those had no zero block. It does not care how
// they were observed: the BFP-based backends count them per layer, role
// and shape (backend.ShapeReporter, turned into records by [FromShapes]),
// `mirage cost` records one synthetic training step, cost.json stores
// them. A [Workload] adds the number format (moduli, mantissa bits,
// tile) and the non-GEMM work.
//
// # Mirage
//
// One array is a modular matrix-vector unit with a bank per modulus
// (redundant ones included). A bank holds an h×R weight tile (h the tile
// length, R the rows) and, per cycle, turns one h-element input vector into
// R modular dot products: an optical pass. A GEMM has T = ceil(K/h) tiles
// along K and W = T·ceil(N/R) weight tiles per modulus; the weight tiles
// are spread over the arrays, each loaded (weight_load_cycles) and then
// streamed with the M rows of A:
//
//	cycles = ceil(W/arrays) · (M + weight_load_cycles),  time = cycles / clock
//
// Energy is counted per event: DAC conversions of inputs (W·M·h per
// modulus) and weights (W·h·R per modulus); ADC and TIA readouts, one per
// modulus for every live tile output (a tile whose row block of A or
// column block of B is all zero is skipped: the hardware knows it from the
// encoding); BFP and RNS forward conversion of every operand element; CRT
// (and RRNS checking) and FP32 accumulation per live tile output; SRAM and
// DRAM bytes. Converter energies are given at a reference resolution and
// scaled by 2^(bits−ref) for a modulus that needs ceil(log2 m) bits (the
// Walden figure of merit). The laser must deliver the detector's photocurrent
// to every lane through the optical loss budget:
//
//	P_laser = lanes · (I_det / responsivity) · 10^(loss_dB/10) · factor / wall_plug
//
// and, like the static power, is drawn for the whole time the core works.
//
// # Systolic array
//
// Output-stationary R×C processing elements: each fold keeps an R×C block
// of C and streams K elements of A and B through, plus R+C−2 cycles of
// fill and drain; folds = ceil(M/R)·ceil(N/C) spread over the arrays.
// Energy: MACs × (multiply + add), SRAM traffic (each fold reads its rows
// of A and columns of B), DRAM traffic (each operand once), leakage.
//
// # Everything else
//
// The non-GEMM work of a step (elementwise operations, normalisation,
// loss, optimizer) is estimated ([EstimateNonGEMM]) and priced on the same
// digital host for both designs; it is reported separately ([Result]'s
// NonGEMM), never folded into the GEMM figures. [Compare] prices a workload
// on an accelerator and a baseline and reports baseline/accelerator
// ratios, optionally after scaling the baseline's number of arrays to the
// accelerator's area or power ([Iso]).
//
// # Parameters
//
// Parameters live in YAML files ([Load], [Parse]); the presets ([Presets],
// [Preset]) are embedded, and each of their numbers carries its source in a
// comment. Every field is required, unknown fields are refused, numbers
// must be finite and non-negative, and a moduli set that the BFP format
// does not fit is refused, each with one line naming the file and the
// field. COST.md gives the equations in full, the parameter table with
// confidence, and what the model says about the Mirage paper's headline
// numbers.
package cost
