// Package parallel runs loops on all cores with helper goroutines that
// stay awake between loops.
//
// A training step runs hundreds of short parallel loops (a convolution, a
// batch-norm pass, a ReLU), one after the other, each a few hundred
// microseconds long. Starting goroutines with go for each loop costs
// little in the Go runtime, but the goroutine runs on an OS thread that is
// usually asleep by then, and waking a sleeping thread took 70 µs to over
// 300 µs on the 2-core virtual machines mirage is benchmarked on: for that
// long at the start of every loop the caller computes alone and the other
// core idles.
//
// A [Team] keeps its helper goroutines spinning instead: after a loop, each
// helper waits for the next one by polling, yielding its processor to any
// other thread that can run (sched_yield on Linux) and now and then its P
// to other goroutines, and picks up a loop started within that time in
// under a microsecond. A helper that has had no loop for 50 µs exits, so
// a program that stops running loops has no goroutine left spinning soon
// after, and the next loop starts the helpers again.
//
// A loop is count chunks, handed out in order through an atomic counter
// to the calling goroutine and the helpers: a helper that the OS runs
// late just takes fewer chunks, and the caller never waits for a helper
// that has not started; it takes the remaining chunks itself. Which
// goroutine runs a chunk must not change what the chunk computes, so that
// results do not depend on the split.
//
// A Team is a value owned by its user (a tape, a convolution's workers),
// not package state: teams are independent, each with at most
// GOMAXPROCS−1 helpers.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Team runs loops on the calling goroutine and up to GOMAXPROCS−1 helper
// goroutines of its own, which spin between loops and exit after 50 µs
// without one (see the package documentation).
//
// The zero value is ready to use. Run may be called from several
// goroutines at once, and from inside a chunk: a Run that finds the
// helpers taken by another runs all its chunks on its caller. Run
// allocates nothing once the team has started its helpers (a helper that
// exited is restarted without allocating). A Team must not be copied
// after first use.
type Team struct {
	busy atomic.Bool // a Run owns the helpers

	// The loop in progress, written by Run before it posts the loop to
	// helpers and read by helpers after they take it.
	f     func(worker, chunk int)
	count int64
	next  atomic.Int64 // the next chunk to hand out

	wg      sync.WaitGroup // helpers posted to and not yet done
	helpers []*helper      // helper i runs as worker i+1
}

// helper is a team's helper goroutine and its hand-over state.
type helper struct {
	team   *Team
	worker int          // the worker index its chunks run with, ≥ 1
	state  atomic.Int32 // a helper state
	// posts counts the loops posted to the helper; a change tells the
	// helper that it is still in use, even when the caller took the loop
	// back before the helper saw it.
	posts atomic.Uint32
	serve func() // the goroutine's body, serveLoops; made once so go statements allocate nothing
	// The caller writes state and posts, the helper polls them: keep
	// other helpers' fields off their cache line.
	_ [64]byte
}

// Helper states. Only the goroutine that owns the team (in Run) moves a
// helper from helperIdle or helperGone to helperPosted, and back from
// helperPosted to helperIdle (taking the loop back); only the helper's
// goroutine moves it from helperPosted to helperRunning, from
// helperRunning to helperIdle, and from helperIdle to helperGone as it
// exits. So a helper has at most one goroutine, and Run knows which
// helpers to wait for: those running.
const (
	helperGone    = iota // no goroutine: the next Run starts one
	helperIdle           // the goroutine spins, waiting for a loop
	helperPosted         // a loop is posted to the goroutine
	helperRunning        // the goroutine runs the loop's chunks
)

// Spin bounds.
const (
	// idleSpin: how long a helper spins with no loop posted to it before
	// its goroutine exits. Loops inside a training step follow each
	// other within a few microseconds to a few tens; an idle program has
	// no goroutine spinning for longer than this.
	idleSpin = 50 * time.Microsecond
	// joinSpin: how long Run spins for helpers to finish their last
	// chunk before blocking (and waiting, when it blocked, as long as a
	// thread takes to wake up).
	joinSpin = 200 * time.Microsecond
	// goschedEvery: a spinning helper yields its P to other goroutines
	// once per this many polls (a few microseconds), so that it does not
	// keep the goroutines of other teams, or of the rest of the program,
	// from running while it waits.
	goschedEvery = 16
)

// Run calls f(worker, chunk) once for every chunk in [0, count) and
// returns when all calls have returned. The calls run on at most procs
// goroutines (and never more than GOMAXPROCS or count): the calling one,
// as worker 0, and helpers, as workers 1, 2, …; a worker runs its chunks
// one at a time, so worker-indexed scratch space needs no lock, as long as
// the team runs one loop at a time (a Run that finds the helpers busy runs
// its chunks as worker 0 too). Chunks are handed out in increasing order,
// but may finish in any order.
//
// f must not panic: a panic in a helper crashes the program, as in any
// goroutine, and one in the caller leaves the team's helpers unused by
// later Runs, which then run their chunks on their callers.
func (t *Team) Run(procs, count int, f func(worker, chunk int)) {
	procs = min(procs, count, runtime.GOMAXPROCS(0))
	if procs <= 1 || !t.busy.CompareAndSwap(false, true) {
		for c := range count {
			f(0, c)
		}
		return
	}
	helpers := t.helpersFor(procs - 1)
	t.f, t.count = f, int64(count)
	t.next.Store(0)
	t.wg.Add(len(helpers))
	for _, h := range helpers {
		h.posts.Add(1)
		if !h.state.CompareAndSwap(helperIdle, helperPosted) {
			// Its goroutine has exited (or never ran): start one.
			h.state.Store(helperPosted)
			go h.serve()
		}
	}
	t.work(0)
	// No chunk is left: take the loop back from helpers that have not
	// started it rather than wait for them to start.
	for _, h := range helpers {
		if h.state.CompareAndSwap(helperPosted, helperIdle) {
			t.wg.Done()
		}
	}
	t.await(helpers)
	t.f = nil // keep no reference to the caller's data
	t.busy.Store(false)
}

// NewSerial returns a team that runs every loop on its caller, as one
// whose helpers are always taken: for code that runs on one of several
// goroutines already working at once (lanes), where splitting each of its
// short loops again would only add hand-overs.
func NewSerial() *Team {
	t := new(Team)
	t.busy.Store(true)
	return t
}

// helpersFor returns the team's first n helpers, creating them on first
// use.
func (t *Team) helpersFor(n int) []*helper {
	for len(t.helpers) < n {
		h := &helper{team: t, worker: len(t.helpers) + 1}
		h.serve = h.serveLoops
		t.helpers = append(t.helpers, h)
	}
	return t.helpers[:n]
}

// work runs chunks of the loop in progress as worker until none is left.
func (t *Team) work(worker int) {
	f, count := t.f, t.count
	for {
		c := t.next.Add(1) - 1
		if c >= count {
			return
		}
		f(worker, int(c))
	}
}

// await waits for helpers to finish the loop: spinning for up to joinSpin
// while any of them runs chunks, then blocking.
func (t *Team) await(helpers []*helper) {
	start := time.Now()
	for {
		running := false
		for _, h := range helpers {
			running = running || h.state.Load() == helperRunning
		}
		if !running || time.Since(start) > joinSpin {
			break
		}
		OSYield()
	}
	t.wg.Wait()
}

// serveLoops is a helper's goroutine: it runs the chunks of each loop
// posted to it until none comes in time.
func (h *helper) serveLoops() {
	for h.awaitLoop() {
		h.team.work(h.worker)
		h.state.Store(helperIdle)
		h.team.wg.Done()
	}
}

// awaitLoop spins until a loop is posted to h and takes it (reporting
// true), or, once no loop has been posted to h for idleSpin, marks h gone
// and reports false. While it spins it yields the processor to any other
// thread that can run (OSYield): when the machine is busy and the caller's
// thread shares a processor with this one, spinning without yielding
// halved the caller's speed (measured with package gemm's helpers, which
// spin the same way).
func (h *helper) awaitLoop() bool {
	idle := time.Now()
	posts := h.posts.Load()
	for i := 1; ; i++ {
		if h.state.Load() == helperPosted && h.state.CompareAndSwap(helperPosted, helperRunning) {
			return true
		}
		OSYield()
		now := time.Now()
		if p := h.posts.Load(); p != posts {
			posts, idle = p, now // a loop came and went: the team is in use
		} else if now.Sub(idle) > idleSpin && h.state.CompareAndSwap(helperIdle, helperGone) {
			return false
		}
		if i%goschedEvery == 0 {
			runtime.Gosched()
		}
	}
}

// Turn hands a resource shared by goroutines working at once (a random
// stream, an output they add into) to them in a fixed order: turn i is
// taken once turns 0 … i-1 are passed. Turns are short and taken one
// after another by goroutines that are all running, so Wait spins,
// yielding the processor, rather than sleep: waking a sleeping thread
// takes longer than most turns last. The zero value is at turn 0.
type Turn struct{ next atomic.Int64 }

// Wait returns once turn i is current (every turn before it passed). It
// yields the thread's processor while it waits (OSYield), and its P to
// other goroutines only now and then, as a Team's helpers do: a
// runtime.Gosched per poll takes the scheduler's lock, which the other
// goroutines working at once need too.
func (t *Turn) Wait(i int) {
	for n := 1; t.next.Load() != int64(i); n++ {
		OSYield()
		if n%goschedEvery == 0 {
			runtime.Gosched()
		}
	}
}

// Pass ends turn i, which must be current, and makes i+1 current.
func (t *Turn) Pass(i int) { t.next.Store(int64(i) + 1) }

// Reset makes turn 0 current, for the next round of turns.
func (t *Turn) Reset() { t.next.Store(0) }
