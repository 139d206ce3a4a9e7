package bfpengine

import (
	"cmp"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"

	"github.com/mirage-go/mirage/backend"
	ibfp "github.com/mirage-go/mirage/internal/bfp"
	"github.com/mirage-go/mirage/internal/parallel"
)

// Lanes run the products of independent blocks of a convolution (its
// blocks of images) on several cores at once, each block whole on one
// core, instead of one block after another with every short loop of a
// block split across the cores. A block's loops (fill and quantise, the
// GEMM, the rearrangements) last a few tens of microseconds each; handing
// each to the other core cost about as much as it saved, and the BFP
// backends trained slower on two cores than on one. Lanes hand over once
// per block.
//
// The results are those of running the blocks one after another, bit for
// bit, and so are the statistics and the random generators:
//
//   - a lane is an Engine of its own (quantiser, buffers, and a
//     parallel.Team that runs every loop on the lane's goroutine),
//     sharing the root engine's settings;
//   - each block makes the same GEMMs in the same order (the calls given
//     to RunBlocks, e.g. the input and then the weight gradient); their
//     statistics are kept aside and added to the root's in block order
//     when all blocks are done, and the calls sampled for the relative
//     error are chosen by their place in that order;
//   - the random streams that the GEMMs share (stochastic rounding's keys,
//     a backend's noise draws) go to one GEMM at a time, in the order of
//     the blocks run one after another: a GEMM waits for its turn
//     (parallel.Turn) before its first draw and passes it on after its
//     last;
//   - the GEMMs that every block adds into (role GradWeight, the weight
//     gradient) add in block order, in their own turn; a backend that
//     computes such a product aside (analog) waits for the turn only to
//     add it (Engine.AddsLast), so that the lanes compute theirs at once.
//
// A block holds a turn to draw only from its first draw to its last, so
// the lanes can run one block apart. To keep that short, a lane
// quantises all chunks of a GEMM first, then lets the backend draw for
// each (PrepareFunc), and multiplies last; and a lane that defers (Defer,
// as backend.Im2col does for a block's two gradients) quantises all of the
// block's GEMMs before it draws for any, and draws for all before it
// multiplies any.
type lanes struct {
	engines     []*Engine
	keys, draws parallel.Turn
	// acc orders, by block, the GEMMs that add into an output all blocks
	// share (role GradWeight: the weight gradient).
	acc parallel.Turn
	// The blocks being run.
	calls     []backend.Call
	base      []int64 // per call, the root's calls of it before the blocks
	n         int
	useDraws  bool
	useAcc    bool         // calls has a GradWeight GEMM
	next      atomic.Int64 // the next block to take
	failedAt  atomic.Int64 // the first block that failed so far, or n
	f         func(lane, block int) error
	run       func(worker, lane int) // runLane, made once
	committed []record
}

// laneState is a lane engine's part of the blocks being run.
type laneState struct {
	lanes *lanes
	root  *Engine
	block int
	made  int // the block's GEMMs made so far
	slot  int // the turn of the GEMM being run: block·len(calls) + its index
	// keyNext and drawNext are the next turns the lane has to pass.
	keyNext, drawNext int
	// final is set while the engine prepares (or, for a backend without
	// a Prepare, multiplies) the last chunk of a GEMM: after it the GEMM
	// draws nothing more, and passes its turn on.
	final bool
	// accHeld: the block holds its turn to add into the shared output;
	// accDone: it has passed it on.
	accHeld, accDone bool
	records          []record
	err              error
	errAt            int
}

// record is one GEMM's statistics, kept aside until the blocks are done.
type record struct {
	block   int
	call    backend.Call
	m, n, k int
	d       Counters
}

// Lanes returns how many lanes RunBlocks would run blocks of calls on:
// up to GOMAXPROCS, and 1 (run the blocks one after another on the engine
// itself) when there is one core or one block, when a layer is kept in
// FP32, and on a lane.
func (e *Engine) Lanes(calls []backend.Call, blocks int) int {
	if e.lane != nil {
		return 1
	}
	for _, c := range calls {
		if e.Settings.KeepsFP32(c.Layer) {
			return 1
		}
	}
	return max(1, min(runtime.GOMAXPROCS(0), blocks))
}

// LaneEngines returns n lane engines of e, made on first use and kept:
// a backend pairs each with a copy of itself (its product function and
// scratch) for RunBlocks.
func (e *Engine) LaneEngines(n int) []*Engine {
	if e.lanes == nil {
		e.lanes = &lanes{}
		e.lanes.run = e.lanes.runLane
	}
	for len(e.lanes.engines) < n {
		l := &Engine{Settings: e.Settings, KSplit: e.KSplit, Grid: e.Grid, team: parallel.NewSerial()}
		l.lane = &laneState{lanes: e.lanes, root: e}
		l.quant = e.quant.Lane(l.nextKey)
		e.lanes.engines = append(e.lanes.engines, l)
	}
	return e.lanes.engines[:n]
}

// RunBlocks calls f(lane, i) for every block i in [0, blocks) on the
// lanes (see Lanes) at once, and returns when all are done. f makes block
// i's GEMMs, which are calls in that order, each once, through the
// engine LaneEngines(n)[lane] (by way of the backend paired with it).
// draws tells whether the backend's product draws from a random stream
// shared by the lanes (through InOrder). Results, statistics and random
// generators are those of the blocks run one after another, bit for bit
// (see lanes). On an error, the blocks after the first failing one are
// not run, the statistics are those of the blocks before it, and its
// error is returned.
func (e *Engine) RunBlocks(calls []backend.Call, blocks int, draws bool, f func(lane, block int) error) error {
	n := e.Lanes(calls, blocks)
	ls := e.lanes
	if ls == nil || len(ls.engines) < n {
		return fmt.Errorf("bfpengine: RunBlocks on %d lanes before LaneEngines(%d)", n, n)
	}
	ls.calls, ls.n, ls.useDraws, ls.f = calls, blocks, draws, f
	ls.base = ls.base[:0]
	ls.useAcc = false
	for _, c := range calls {
		ls.base = append(ls.base, e.Stats.Calls(c))
		ls.useAcc = ls.useAcc || c.Role == backend.GradWeight
	}
	ls.next.Store(0)
	ls.failedAt.Store(int64(blocks))
	ls.keys.Reset()
	ls.draws.Reset()
	ls.acc.Reset()
	for _, l := range ls.engines[:n] {
		l.lane.records, l.lane.err = l.lane.records[:0], nil
	}
	e.team.Run(n, n, ls.run)
	ls.f, ls.calls = nil, nil
	// Commit the statistics in block order, up to the first failed block.
	failedAt, firstErr := blocks, error(nil)
	all := ls.committed[:0]
	for _, l := range ls.engines[:n] {
		if l.lane.err != nil && l.lane.errAt < failedAt {
			failedAt, firstErr = l.lane.errAt, l.lane.err
		}
		all = append(all, l.lane.records...)
	}
	// Stable: a lane records a block's GEMMs in the order it made them.
	slices.SortStableFunc(all, func(a, b record) int { return cmp.Compare(a.block, b.block) })
	for i := range all {
		if r := &all[i]; r.block < failedAt {
			e.Stats.Add(r.call, &r.d)
			e.Stats.AddShape(r.call, r.m, r.n, r.k, &r.d)
		}
	}
	ls.committed = all[:0]
	return firstErr
}

// runLane takes blocks in order until none is left, and runs them on lane
// engine number lane.
func (ls *lanes) runLane(_, lane int) {
	l := ls.engines[lane]
	st := l.lane
	for {
		i := int(ls.next.Add(1) - 1)
		if i >= ls.n {
			return
		}
		first := i * len(ls.calls)
		st.block, st.made, st.slot, st.final = i, 0, first, false
		st.keyNext, st.drawNext = first, first
		st.accHeld, st.accDone = false, false
		l.deferring, l.pending = false, l.pending[:0] // a failed block's
		if !ls.failedBefore(i) {
			if err := ls.f(lane, i); err != nil && st.err == nil {
				st.err, st.errAt = err, i
				ls.fail(i)
			}
		}
		// Pass on the turns of GEMMs that did not (they failed, or were
		// not made), once the GEMMs before them have.
		l.settle(first + len(ls.calls) - 1)
		if ls.useAcc && !st.accDone {
			ls.acc.Wait(i)
			ls.acc.Pass(i)
		}
		// Keep no reference to the caller's operands.
		clear(l.chunks[:cap(l.chunks)])
		clear(l.pending[:cap(l.pending)])
		l.chunks, l.pending = l.chunks[:0], l.pending[:0]
	}
}

// fail records that block i failed.
func (ls *lanes) fail(i int) {
	for {
		at := ls.failedAt.Load()
		if int64(i) >= at || ls.failedAt.CompareAndSwap(at, int64(i)) {
			return
		}
	}
}

// failedBefore reports whether a block before block i failed.
func (ls *lanes) failedBefore(i int) bool { return ls.failedAt.Load() < int64(i) }

// settle passes the lane's turns up to and including turn last, in order,
// each once the turns before it are passed: those of GEMMs that drew
// nothing, or failed.
func (e *Engine) settle(last int) {
	e.settleKeys(last)
	e.settleDraws(last)
}

// settleKeys is settle for the stochastic-rounding keys' turns.
func (e *Engine) settleKeys(last int) {
	st := e.lane
	if e.stochastic() {
		for ; st.keyNext <= last; st.keyNext++ {
			st.lanes.keys.Wait(st.keyNext)
			st.lanes.keys.Pass(st.keyNext)
		}
	}
}

// settleDraws is settle for the noise draws' turns.
func (e *Engine) settleDraws(last int) {
	st := e.lane
	if st.lanes.useDraws {
		for ; st.drawNext <= last; st.drawNext++ {
			st.lanes.draws.Wait(st.drawNext)
			st.lanes.draws.Pass(st.drawNext)
		}
	}
}

// stochastic reports whether e's quantiser draws keys.
func (e *Engine) stochastic() bool { return e.Settings.Format.Rounding == ibfp.Stochastic }

// nextKey is a lane quantiser's key source: the root's next key, in the
// GEMM's turn.
func (e *Engine) nextKey() uint64 {
	st := e.lane
	st.lanes.keys.Wait(st.slot)
	return st.root.quant.Key()
}

// keysDrawn is called after the last quantisation of a GEMM: on a lane,
// the GEMM draws no more keys, and passes the turn on.
func (e *Engine) keysDrawn() {
	if st := e.lane; st != nil && e.stochastic() && st.keyNext == st.slot {
		st.lanes.keys.Wait(st.slot)
		st.lanes.keys.Pass(st.slot)
		st.keyNext++
	}
}

// InOrder runs draw, a product function's use of a random stream that
// the backend's lanes share (noise draws): on a lane, in the GEMM's turn,
// so that the draws are those of the blocks run one after another (see
// lanes); on an engine that is not a lane, at once.
func (e *Engine) InOrder(draw func()) {
	st := e.lane
	if st == nil {
		draw()
		return
	}
	if !st.lanes.useDraws {
		panic("bfpengine: InOrder on lanes whose RunBlocks was told the product draws nothing")
	}
	st.lanes.draws.Wait(st.slot)
	draw()
	if st.final && st.drawNext == st.slot {
		st.lanes.draws.Pass(st.slot)
		st.drawNext++
	}
}

// setFinal marks, on a lane, whether the chunk about to be prepared (or
// multiplied) is the GEMM's last.
func (e *Engine) setFinal(final bool) {
	if e.lane != nil {
		e.lane.final = final
	}
}

// begin checks, on a lane, that call is the block's next GEMM, and makes
// its turn current.
func (e *Engine) begin(call backend.Call) error {
	e.call = call
	st := e.lane
	if st == nil {
		return nil
	}
	calls := st.lanes.calls
	if st.made >= len(calls) || calls[st.made] != call {
		return fmt.Errorf("bfpengine: GEMM %s is not the next of block %d on a lane, which makes %v in that order", call, st.block, calls)
	}
	st.slot = st.block*len(calls) + st.made
	st.made++
	st.final = false
	// The block's earlier GEMMs draw nothing more: pass on the turns they
	// did not (they drew nothing), or this GEMM would wait for them;
	// unless they are deferred, and draw at Flush.
	e.settleKeys(st.slot - 1)
	if !e.deferring {
		e.settleDraws(st.slot - 1)
	}
	return nil
}

// callsBefore returns how many GEMMs of call come before this one when
// the blocks run one after another (each block makes one of each call).
func (e *Engine) callsBefore(call backend.Call) int64 {
	if st := e.lane; st != nil {
		if c := slices.Index(st.lanes.calls, call); c >= 0 {
			return st.lanes.base[c] + int64(st.block)
		}
	}
	return e.Stats.Calls(call)
}

// record adds one GEMM's statistics: to e.Stats, or on a lane to the
// block's records, which RunBlocks adds in block order; a lane then
// passes on the GEMM's turns.
func (e *Engine) record(call backend.Call, g *backend.GEMM, d *Counters) {
	st := e.lane
	if st == nil {
		e.Stats.Add(call, d)
		e.Stats.AddShape(call, g.M, g.N, g.K, d)
		return
	}
	st.records = append(st.records, record{block: st.block, call: call, m: g.M, n: g.N, k: g.K, d: *d})
	e.settle(st.slot)
	e.doneAdding()
}

// doneAdding passes on, on a lane, the block's turn to add into the shared
// output, once its GEMM that adds into it is done.
func (e *Engine) doneAdding() {
	if st := e.lane; st != nil && st.accHeld && !st.accDone {
		st.lanes.acc.Pass(st.block)
		st.accDone = true
	}
}

// PrepareFunc is the first half of a product function, for lanes: what
// it can do from the quantised operands alone, before C is written (rns:
// find the tiles read out and draw their wrong readouts, in the GEMM's
// turn through InOrder). On a lane with a Prepare, the engine quantises
// every chunk of a GEMM, prepares each in order, and only then (after
// the blocks before it, when C is shared) runs the product function on
// each, which finds with Prepared and Chunk what Prepare left for it. So
// a block's draws come before its products and the next block waits less
// for its turn. call is the GEMM's: a deferred GEMM (see Defer) prepares
// after the block's later GEMMs have begun, so Prepare must take what
// depends on the call (whether its role is noisy) from call, not from the
// backend's state at its last call.
type PrepareFunc func(call backend.Call, g *backend.GEMM, a, b *ibfp.Matrix, c *Counters, chunk int)

// Prepared reports whether the product function is being run on a chunk
// that Prepare has prepared, and Chunk which one.
func (e *Engine) Prepared() bool { return e.prepared }

// Chunk returns the chunk whose product is being run (see Prepared).
func (e *Engine) Chunk() int { return e.chunk }

// errSkipped stops a block after one that failed, as the blocks run one
// after another would never have run it.
var errSkipped = errors.New("bfpengine: skipped after an earlier block failed")

// WaitToAdd waits, on a lane, until the blocks before this one have added
// into C, when g adds into it (a weight gradient, which every block adds
// into): the additions are then those of the blocks one after another.
// It fails when an earlier block failed: nothing more is added. It
// returns at once off lanes, for a g that does not add into C, and once
// the block holds its turn. The engine calls it before it runs the
// product function, unless AddsLast says that the product function does.
func (e *Engine) WaitToAdd(g *backend.GEMM) error {
	st := e.lane
	if st == nil || !g.Accumulate || st.accHeld {
		return nil
	}
	st.lanes.acc.Wait(st.block)
	st.accHeld = true
	if st.lanes.failedBefore(st.block) {
		return errSkipped
	}
	return nil
}

// quantisedOnLane is quantised on a lane: the same quantisations and
// products on the same chunks, in two passes (see PrepareFunc), so that
// the block's draws happen before its products, and its quantisation
// before it waits to add into a shared C. With hold (the lane defers,
// see Defer) it stops after the first pass and leaves the products to
// Flush.
func (e *Engine) quantisedOnLane(g *backend.GEMM, product ProductFunc, d *Counters, hold bool) error {
	if len(e.pending) == 0 {
		e.chunks = e.chunks[:0]
	}
	ch, err := e.quantiseChunks(g, d, hold)
	if err != nil {
		return err
	}
	if hold {
		e.pending = append(e.pending, pendingGEMM{g: *g, product: product, chunks: ch, dest: e.dest, destK: e.destK, slot: e.lane.slot})
		return nil
	}
	return e.multiplyChunks(g, product, d, ch)
}

// chunkRange is a GEMM's chunks in e.chunks, [j0, j1), and whether each
// has its own quantised op(B) (split along K) or all share that of j0.
type chunkRange struct {
	j0, j1 int
	split  bool
}

// b returns chunk j's quantised op(B).
func (r chunkRange) b(e *Engine, j int) *ibfp.Matrix {
	if r.split {
		return &e.bs[j]
	}
	return &e.bs[r.j0]
}

// quantiseChunks quantises g's chunks as quantised and splitK cut them
// (chunkRows, rowChunk; chunkK, kChunk),
// into e.chunks, e.as and e.bs after those already there, and prepares
// each (draws, in the GEMM's turn).
func (e *Engine) quantiseChunks(g *backend.GEMM, d *Counters, hold bool) (chunkRange, error) {
	r := chunkRange{j0: len(e.chunks), split: e.splitsK(g)}
	if r.split {
		kc := e.chunkK(g)
		for k0 := 0; k0 < g.K; k0 += kc {
			c := e.kChunk(g, k0, kc)
			j := len(e.chunks)
			e.growChunks(j + 1)
			if err := e.quant.Quantise(&e.as[j], c.A, c.LDA, c.M, c.K, c.TransA); err != nil {
				return r, fmt.Errorf("operand A: %w", err)
			}
			if err := e.quantiseB(&e.bs[j], &c, k0); err != nil {
				return r, fmt.Errorf("operand B: %w", err)
			}
			d.NonFinite += int64(e.as[j].NonFinite + e.bs[j].NonFinite)
			e.chunks = append(e.chunks, c)
		}
	} else {
		e.growChunks(r.j0 + 1)
		if err := e.quantiseB(&e.bs[r.j0], g, 0); err != nil {
			return r, fmt.Errorf("operand B: %w", err)
		}
		d.NonFinite += int64(e.bs[r.j0].NonFinite)
		if e.grid.cols != nil {
			if _, err := e.gridScale(g, &e.bs[r.j0]); err != nil {
				return r, fmt.Errorf("operand A: %w", err)
			}
		}
		rows := chunkRows(g)
		for m0 := 0; m0 < g.M; m0 += rows {
			c := e.rowChunk(g, m0, rows)
			j := len(e.chunks)
			e.growChunks(j + 1)
			if err := e.quantiseA(&e.as[j], &c, m0); err != nil {
				return r, fmt.Errorf("operand A: %w", err)
			}
			d.NonFinite += int64(e.as[j].NonFinite)
			e.chunks = append(e.chunks, c)
		}
	}
	r.j1 = len(e.chunks)
	e.keysDrawn()
	if !hold { // (a deferred GEMM prepares at Flush)
		if len(e.pending) > 0 {
			// A GEMM run whole while others are deferred (one sampled
			// for the relative error) draws after them, as in block
			// order.
			e.preparePending()
			e.settleDraws(e.lane.slot - 1)
		}
		e.prepareChunks(e.call, r, d)
	}
	return r, nil
}

// preparePending runs Prepare on the deferred GEMMs that have not drawn
// yet, in the order they were made, each in its turn after passing those
// of the GEMMs before it that draw nothing; the lane's current turn is
// left as it was.
func (e *Engine) preparePending() {
	if len(e.pending) == 0 { // (always, off a lane)
		return
	}
	slot := e.lane.slot
	for i := range e.pending {
		p := &e.pending[i]
		if p.drawn {
			continue
		}
		e.lane.slot = p.slot
		e.settleDraws(p.slot - 1)
		e.prepareChunks(p.call, p.chunks, &p.d)
		p.drawn = true
	}
	e.lane.slot = slot
}

// prepareChunks runs the backend's Prepare on the chunks r of the GEMM of
// call (its draws, in the GEMM's turn).
func (e *Engine) prepareChunks(call backend.Call, r chunkRange, d *Counters) {
	if e.Prepare == nil {
		return
	}
	for j := r.j0; j < r.j1; j++ {
		e.setFinal(j == r.j1-1)
		e.Prepare(call, &e.chunks[j], &e.as[j], r.b(e, j), d, j)
	}
}

// multiplyChunks runs product on the chunks r of g, which quantiseChunks
// quantised, after the blocks before when g adds into a shared C.
func (e *Engine) multiplyChunks(g *backend.GEMM, product ProductFunc, d *Counters, r chunkRange) error {
	if !e.AddsLast {
		if err := e.WaitToAdd(g); err != nil {
			return err
		}
	}
	e.prepared = e.Prepare != nil
	defer func() { e.prepared = false }()
	if e.grid.done {
		e.gridMultiply(&e.chunks[r.j0], r.b(e, r.j0))
	}
	for j := r.j0; j < r.j1; j++ {
		e.chunk = j
		if e.Prepare == nil {
			e.setFinal(j == r.j1-1)
		}
		if err := product(&e.chunks[j], &e.as[j], r.b(e, j), d); err != nil {
			return err
		}
	}
	return nil
}

// pendingGEMM is a GEMM whose products a deferring lane runs at Flush.
type pendingGEMM struct {
	call    backend.Call
	req, g  backend.GEMM
	product ProductFunc
	d       Counters
	chunks  chunkRange
	dest    *backend.Col2im
	destK   int
	slot    int
	drawn   bool // its Prepare has run (see preparePending)
}

// deferred completes the pending GEMM that quantisedOnLane has just
// added: its call, request and counters so far.
func (e *Engine) deferred(call backend.Call, req backend.GEMM, d *Counters) {
	p := &e.pending[len(e.pending)-1]
	p.call, p.req, p.d = call, req, *d
}

// Defer makes a lane engine quantise its next GEMMs at once and draw for
// them and run their products at Flush, in the order they were made. A
// block that makes several GEMMs (a convolution's input and weight
// gradients) then quantises all of them before it draws for any, and
// draws for all before it multiplies any: the next block, which waits for
// its turn to draw, waits for the draws only, not for this block's
// quantisation. For backends whose product function draws nothing, or
// draws in its Prepare (see PrepareFunc). Sampled calls (which need the
// product at once, for the relative error) run whole, after the deferred
// GEMMs before them have drawn.
func (e *Engine) Defer() {
	if e.lane != nil {
		e.deferring = true
	}
}

// Flush runs the products that Defer deferred, in order, and records
// their statistics; it returns the first error.
func (e *Engine) Flush() error {
	e.deferring = false
	defer func() { e.pending, e.chunks = e.pending[:0], e.chunks[:0] }()
	// The draws of every deferred GEMM, in order, each in its turn (after
	// passing those of the GEMMs before it that draw nothing): only now,
	// with all of the block's operands quantised, so that the next block,
	// which waits for these turns, waits for no quantisation.
	e.preparePending()
	for i := range e.pending {
		p := &e.pending[i]
		e.dest, e.destK, e.lane.slot = p.dest, p.destK, p.slot
		err := e.multiplyChunks(&p.g, p.product, &p.d, p.chunks)
		e.dest = nil
		if err != nil {
			return fmt.Errorf("%s: %w", p.call, err)
		}
		e.record(p.call, &p.req, &p.d)
	}
	return nil
}

// growChunks makes room for n chunks' quantised operands.
func (e *Engine) growChunks(n int) {
	for len(e.as) < n {
		e.as = append(e.as, ibfp.Matrix{})
		e.bs = append(e.bs, ibfp.Matrix{})
	}
}

// LaneCopies is what a backend keeps to be a backend.LaneRunner: a copy
// of itself paired with each of its engine's lanes (its product function
// and scratch on that lane's engine), made on first use. The zero value
// is ready to use.
type LaneCopies[B backend.ColsMultiplier] struct {
	copies []B
	f      func(lane backend.ColsMultiplier, k, i int) error
	block  func(k, i int) error // runBlock, made once
}

// Run implements backend.LaneRunner.RunLanes for a backend on engine e:
// newCopy makes the copy of the backend for a lane engine. draws tells
// whether the backend draws from a shared random stream in calls (see
// RunBlocks).
func (lc *LaneCopies[B]) Run(e *Engine, newCopy func(*Engine) B, calls []backend.Call, blocks int, draws bool, f func(lane backend.ColsMultiplier, k, i int) error) error {
	engines := e.LaneEngines(e.Lanes(calls, blocks))
	for len(lc.copies) < len(engines) {
		lc.copies = append(lc.copies, newCopy(engines[len(lc.copies)]))
	}
	if lc.block == nil {
		lc.block = lc.runBlock
	}
	lc.f = f
	err := e.RunBlocks(calls, blocks, draws, lc.block)
	lc.f = nil
	return err
}

func (lc *LaneCopies[B]) runBlock(k, i int) error { return lc.f(lc.copies[k], k, i) }

// AnyOf reports whether any of calls has its role in the set.
func (on RoleSet) AnyOf(calls []backend.Call) bool {
	for _, c := range calls {
		if on[c.Role] {
			return true
		}
	}
	return false
}
