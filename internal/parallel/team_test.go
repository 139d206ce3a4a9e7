package parallel

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// loop records which worker ran each chunk of a Run, and how often each
// chunk ran.
type loop struct {
	hits    []atomic.Int32
	workers []atomic.Int32 // worker index + 1 of the last run of each chunk
	maxProc int            // the procs argument: worker indexes must stay below
	bad     atomic.Int32   // calls with a worker index out of range
	run     func(worker, chunk int)
}

func newLoop(count, procs int) *loop {
	l := &loop{hits: make([]atomic.Int32, count), workers: make([]atomic.Int32, count), maxProc: procs}
	l.run = func(worker, chunk int) {
		if worker < 0 || worker >= l.maxProc {
			l.bad.Add(1)
		}
		l.hits[chunk].Add(1)
		l.workers[chunk].Store(int32(worker) + 1)
	}
	return l
}

// check fails unless every chunk ran exactly once with a worker index in
// range.
func (l *loop) check(t *testing.T, name string) {
	t.Helper()
	require.Zero(t, l.bad.Load(), "%s: chunks ran with worker indexes ≥ procs", name)
	for c := range l.hits {
		require.Equal(t, int32(1), l.hits[c].Load(), "%s: chunk %d", name, c)
	}
}

// TestRunCoversChunksOnce runs loops of many sizes, with several procs
// arguments, back to back on one team (so that helpers are reused, miss
// loops and exit between the slow ones), and checks that each chunk runs
// exactly once and no worker index reaches procs or GOMAXPROCS.
func TestRunCoversChunksOnce(t *testing.T) {
	var team Team
	for _, count := range []int{0, 1, 2, 3, 7, 64, 1000} {
		for _, procs := range []int{0, 1, 2, 3, 8} {
			for rep := range 3 {
				l := newLoop(count, max(1, min(procs, runtime.GOMAXPROCS(0))))
				team.Run(procs, count, l.run)
				l.check(t, fmt.Sprintf("count %d procs %d rep %d", count, procs, rep))
				if rep == 1 {
					time.Sleep(2 * idleSpin) // let the helpers exit before the next loop
				}
			}
		}
	}
}

// TestRunUsesHelpers checks that loops whose chunks take a while are
// shared: over many loops, some chunks must run on a helper. A helper that
// the OS never runs in time would leave all chunks to the caller, so the
// test only asks for one helper chunk in 20 loops of 8 chunks of 200 µs.
func TestRunUsesHelpers(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs GOMAXPROCS ≥ 2")
	}
	var team Team
	helped := 0
	for range 20 {
		l := newLoop(8, 2)
		team.Run(2, 8, func(worker, chunk int) {
			deadline := time.Now().Add(200 * time.Microsecond)
			for time.Now().Before(deadline) {
			}
			l.run(worker, chunk)
		})
		l.check(t, "slow chunks")
		for c := range l.workers {
			if l.workers[c].Load() == 2 {
				helped++
			}
		}
	}
	require.Positive(t, helped, "no chunk of 20 loops ran on the helper")
}

// TestConcurrentRuns runs loops on one team from several goroutines at
// once, and from inside chunks (nested), so that helpers are taken, missed
// and restarted while other Runs run their chunks alone. Each loop must
// still cover its chunks exactly once. Run it with -race to check the
// hand-over.
func TestConcurrentRuns(t *testing.T) {
	var team Team
	procs := runtime.GOMAXPROCS(0)
	const callers, calls = 4, 50
	var wg sync.WaitGroup
	errs := make(chan error, callers*calls)
	for g := range callers {
		wg.Go(func() {
			for r := range calls {
				count := 1 + (g*calls+r)%97
				var inner atomic.Int32
				l := newLoop(count, max(1, procs))
				team.Run(procs, count, func(worker, chunk int) {
					l.run(worker, chunk)
					if chunk == 0 {
						// A nested loop: it finds the helpers busy (or
						// takes them, if the outer Run is another
						// caller's) and must still complete.
						team.Run(procs, 5, func(int, int) { inner.Add(1) })
					}
				})
				for c := range l.hits {
					if n := l.hits[c].Load(); n != 1 {
						errs <- fmt.Errorf("caller %d call %d: chunk %d of %d ran %d times", g, r, c, count, n)
						break
					}
				}
				if n := inner.Load(); n != 5 {
					errs <- fmt.Errorf("caller %d call %d: the nested loop ran %d chunks of 5", g, r, n)
				}
				if l.bad.Load() != 0 {
					errs <- fmt.Errorf("caller %d call %d: worker index out of range", g, r)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestHelpersExitWhenIdle checks that the helpers are gone shortly after
// the last loop: they spin for at most idleSpin without one. goleak
// retries for about a second, far longer than idleSpin, and fails if any
// goroutine started since ignore remains.
func TestHelpersExitWhenIdle(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	var team Team
	for rep := range 50 {
		l := newLoop(100, 8)
		team.Run(8, 100, l.run)
		l.check(t, fmt.Sprintf("rep %d", rep))
	}
	goleak.VerifyNone(t, ignore)
}

// TestHelpersAtMostGOMAXPROCS checks that a team never has more helpers
// than GOMAXPROCS−1, however large the procs argument.
func TestHelpersAtMostGOMAXPROCS(t *testing.T) {
	var team Team
	for range 10 {
		team.Run(64, 1000, func(int, int) {})
	}
	require.LessOrEqual(t, len(team.helpers), max(0, runtime.GOMAXPROCS(0)-1))
}

// TestRunWithOneProc checks that with GOMAXPROCS=1 every chunk runs on
// the caller, in order, and no helper is created.
func TestRunWithOneProc(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var team Team
	var order []int
	team.Run(4, 10, func(worker, chunk int) {
		require.Zero(t, worker)
		order = append(order, chunk)
	})
	require.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, order)
	require.Empty(t, team.helpers)
}

// TestRunAllocatesNothing checks that a warm team's Run allocates
// nothing, whether its helpers are spinning or have exited and must be
// restarted. testing.AllocsPerRun would set GOMAXPROCS to 1, under which
// Run starts no helper, so the test counts the process's allocations
// itself, on at least two Ps (no other test runs meanwhile). Restarting a
// goroutine now and then costs the runtime an allocation (a new goroutine
// descriptor when its P has no free one), and on a busy machine helpers
// are restarted even between back-to-back Runs, whenever the OS holds the
// caller off for longer than idleSpin; so the test takes the best of five
// batches of Runs. An allocation in Run itself would be in every batch.
func TestRunAllocatesNothing(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(2, runtime.GOMAXPROCS(0))))
	var team Team
	var sum atomic.Int64
	f := func(_, chunk int) { sum.Add(int64(chunk)) }
	procs := runtime.GOMAXPROCS(0)
	// batch returns the fewest allocations of five batches of runs Runs,
	// each after pause, and how many helper goroutines the Runs started.
	batch := func(runs int, pause time.Duration) (fewest uint64, restarts int) {
		fewest = ^uint64(0)
		for range 5 {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range runs {
				time.Sleep(pause)
				for _, h := range team.helpers {
					if h.state.Load() == helperGone {
						restarts++
					}
				}
				team.Run(procs, 64, f)
			}
			runtime.ReadMemStats(&after)
			fewest = min(fewest, after.Mallocs-before.Mallocs)
		}
		return fewest, restarts
	}
	batch(1, 0) // create the helpers
	spinning, _ := batch(1000, 0)
	require.Zero(t, spinning, "allocations in 1000 back-to-back Runs, best of 5")
	// Helpers exit after idleSpin without a loop: each of these Runs
	// restarts them.
	restarting, restarts := batch(20, 2*idleSpin)
	require.Zero(t, restarting, "allocations in 20 Runs 100 µs apart, best of 5")
	require.Positive(t, restarts, "helpers never exited between Runs 100 µs apart")
	require.Positive(t, sum.Load())
}

func TestSerialRunsOnCaller(t *testing.T) {
	team := NewSerial()
	var workers []int
	team.Run(4, 100, func(worker, chunk int) {
		if chunk != len(workers) {
			t.Fatalf("chunk %d ran after %d chunks: not in order on one goroutine", chunk, len(workers))
		}
		workers = append(workers, worker)
	})
	if len(workers) != 100 {
		t.Fatalf("%d chunks ran, want 100", len(workers))
	}
	for _, w := range workers {
		if w != 0 {
			t.Fatalf("a chunk ran as worker %d on a serial team", w)
		}
	}
}

func TestTurnOrdersGoroutines(t *testing.T) {
	var turn Turn
	const n = 200
	order := make([]int, 0, n)
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			for i := g; i < n; i += 4 {
				turn.Wait(i)
				order = append(order, i) // safe: only the holder of turn i runs this
				turn.Pass(i)
			}
			done <- struct{}{}
		}()
	}
	for range 4 {
		<-done
	}
	for i, v := range order {
		if v != i {
			t.Fatalf("turn %d taken in place %d", v, i)
		}
	}
	turn.Reset()
	turn.Wait(0) // returns at once after Reset
}
