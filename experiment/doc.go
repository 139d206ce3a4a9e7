// Package experiment answers mirage's central question — does training on
// an emulated accelerator match FP32, and what does each hardware knob cost
// in accuracy? — with two kinds of experiment that write reports a reader
// can trust.
//
// # Compare: A/B runs of one training recipe on several backends
//
// [Compare] trains the same configuration once per [Arm] (a backend and its
// options), one after another, each in its own directory under the output
// directory. Every arm uses the same seed, so it starts from the same
// initial weights and sees the same data order and augmentation (model
// initialisation and the data loader derive from the seed alone, never from
// the backend; the report prints a fingerprint of each arm's initial weights
// so a reader can check). Differences between arms therefore come from the
// backend alone.
//
// The report (report.md, report.json, accuracy.png, loss.png) has one row
// per arm — final and best test accuracy, losses, wall time, training
// throughput and the backend's own sampled error statistics — and a
// per-layer, per-role error table measured by this package (see [Probe]):
// each backend and FP32 compute the same GEMMs on the same inputs, and the
// table gives the relative error and the signal-to-noise ratio of every
// layer's forward, dX and dW products.
//
// # Sweep: a grid over hardware knobs and training settings
//
// [Sweep] expands a [Spec] (YAML or JSON; see sweeps/ in the repository)
// into a list of runs, validates every one of them before the first starts
// (an unknown knob or an invalid moduli set is refused, naming the row and
// the problem), and then runs them, appending one JSON line per finished
// run to results.jsonl. It writes report.md and one plot of accuracy
// against each swept knob, with one line per combination of the other
// knobs (say, accuracy against noise σ with and without RRNS), and a
// separate plot per backend when several backends sweep the same knob
// (σ is in residue steps for rns and in ADC steps for analog). When the
// sweep has an FP32 run, the table gives every run's distance to it and
// the plots draw it as a baseline.
//
// Runs are sequential: the GEMM kernels already use every core, so
// running arms or rows side by side would only make each slower.
//
// # Resuming
//
// Both experiments can be interrupted and started again with the same
// command. A run whose directory holds a summary.json written for the same
// configuration is finished and is not run again; any other run is started
// from scratch (a half-finished run cannot be continued: the optimizer state
// is not saved). A sweep also skips every row already in results.jsonl.
//
// # Diverged and collapsed runs
//
// A run whose loss became NaN or infinite is reported as diverged; a run
// whose final test accuracy is within [CollapseMargin] of chance (one over
// the number of classes) is reported as collapsed. Reports name such runs
// plainly and never average them with healthy ones.
package experiment
