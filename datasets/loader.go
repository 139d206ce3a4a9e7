package datasets

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
)

// Batch is a group of consecutive examples of one epoch.
//
// A Batch returned by [Epoch.Next] lives in a buffer the loader reuses: it
// is valid until the next call to Next or Close on the same epoch, and must
// be copied if needed longer.
type Batch struct {
	// X holds the N examples one after the other, each as many values as
	// the product of the data set's Shape: X has shape [N, Shape...].
	X []float32
	// Labels holds the N class labels.
	Labels []int
	// N is the number of examples; it is the batch size except possibly for
	// the last batch of an epoch, which holds the remainder.
	N int
	// Index is the batch's position in its epoch, from 0.
	Index int

	shape  []int // the data set's example shape, for Inputs
	tokens bool  // the examples are token ids (a Tokenized data set)
}

// defaultPrefetch is how many batches the background goroutine may fill
// ahead of the caller. Two keep a GEMM-bound training step fed without
// wasting memory; the loader then owns three buffers.
const defaultPrefetch = 2

// Loader cuts a data set into batches, epoch after epoch: optionally in a
// shuffled order and with the data set's random augmentation, always
// deterministically, and filling batches in a background goroutine while
// the caller trains on the previous one.
//
// Determinism: the order of epoch e is a permutation drawn from a generator
// seeded by (seed, e) alone, and the augmentation of batch b of epoch e
// draws from a generator seeded by (seed, e, b) alone. So the batches of an
// epoch do not depend on earlier epochs, on how far the background goroutine
// has run ahead, or on timing.
//
// Memory: a loader owns a small ring of batch buffers and reuses them for
// every batch of every epoch, so steady-state training allocates nothing per
// batch. A Loader runs one epoch at a time and is not safe for concurrent
// use by several goroutines.
//
// The data set's Example is called from the background goroutine, one call
// at a time; a data set shared by several loaders that run at once (say, a
// training and an evaluation loader) must allow concurrent Example calls,
// which read-only data sets such as MNIST's do.
type Loader struct {
	ds          Dataset
	batchSize   int
	shuffle     bool
	augment     bool
	seed        uint64
	exampleSize int
	shape       []int
	tokens      bool
	prefetch    int

	perm    []int
	slots   []*slot
	current *Epoch
}

// slot is one reusable batch buffer with its own augmentation generator.
type slot struct {
	x      []float32
	labels []int
	size   int // values per example
	n      int
	index  int
	pcg    rand.PCG
	rng    *rand.Rand
}

// NewLoader returns a loader over ds with batches of batchSize examples.
// With shuffle, each epoch visits the examples in a new random order; with
// augment, examples are drawn with the data set's training augmentation.
// The last batch of an epoch may be smaller (nothing is dropped).
//
// batchSize must be positive; a command line should validate its flag
// before calling (NewLoader panics otherwise, as for any programming error).
func NewLoader(ds Dataset, batchSize int, shuffle, augment bool, seed uint64) *Loader {
	if batchSize < 1 {
		panic(fmt.Sprintf("datasets.NewLoader: batch size %d must be at least 1", batchSize))
	}
	size := 1
	for _, d := range ds.Shape() {
		size *= d
	}
	return &Loader{
		ds:          ds,
		batchSize:   batchSize,
		shuffle:     shuffle,
		augment:     augment,
		seed:        seed,
		exampleSize: size,
		shape:       slices.Clone(ds.Shape()),
		tokens:      VocabSize(ds) > 0,
		prefetch:    defaultPrefetch,
	}
}

// Len returns the number of batches in one epoch.
func (l *Loader) Len() int { return (l.ds.Len() + l.batchSize - 1) / l.batchSize }

// BatchSize returns the batch size (the size of all batches but maybe the
// last).
func (l *Loader) BatchSize() int { return l.batchSize }

// Epoch starts epoch number epoch (any integer; it seeds the order and the
// augmentation) and returns an iterator over its batches. A background
// goroutine starts filling batches at once.
//
// Close the returned epoch when done with it, typically with defer: that
// stops the background goroutine if the epoch was abandoned early. Starting
// another epoch closes the previous one. (An epoch dropped without Close is
// stopped once garbage collected, a safety net not to rely on.)
func (l *Loader) Epoch(epoch int) *Epoch {
	return l.start(Position{Epoch: epoch})
}

// Position is where an epoch stands: the epoch's number and the index of
// the next batch it returns. Because the order and the augmentation of a
// batch depend only on (seed, epoch, batch), a position is all a training
// run needs to save to continue the data stream exactly where it stopped,
// whatever the prefetching goroutine had filled ahead.
type Position struct {
	Epoch int `json:"epoch"`
	Batch int `json:"batch"`
}

// Resume starts epoch p.Epoch at batch p.Batch: the batches it returns are
// exactly those an epoch started with [Loader.Epoch] returns from that index
// on (same examples, same augmentation), without producing the earlier
// ones. p.Batch = Len() gives an epoch that is already over. A batch index
// outside [0, Len()] is an error.
func (l *Loader) Resume(p Position) (*Epoch, error) {
	if p.Batch < 0 || p.Batch > l.Len() {
		return nil, fmt.Errorf("datasets: cannot resume at batch %d: an epoch has %d batches of %d", p.Batch, l.Len(), l.batchSize)
	}
	return l.start(p), nil
}

func (l *Loader) start(p Position) *Epoch {
	epoch := p.Epoch
	if l.current != nil {
		l.current.Close()
	}
	l.allocate()
	n := l.ds.Len()
	order := l.perm[:n]
	for i := range order {
		order[i] = i
	}
	if l.shuffle {
		hi, lo := deriveSeed(l.seed, purposeOrder, uint64(epoch), 0)
		rand.New(rand.NewPCG(hi, lo)).Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	e := &Epoch{
		pos:   p,
		ready: make(chan *slot, len(l.slots)),
		free:  make(chan *slot, len(l.slots)),
		stop:  &stopSignal{ch: make(chan struct{})},
		done:  make(chan struct{}),

		shape:  l.shape,
		tokens: l.tokens,
	}
	// A safety net for a caller that drops an epoch and its loader without
	// closing: once the epoch is garbage, the goroutine is told to stop.
	runtime.AddCleanup(e, (*stopSignal).fire, e.stop)
	for _, s := range l.slots {
		e.free <- s
	}
	l.current = e
	go fill(fillJob{
		ds: l.ds, order: order, batchSize: l.batchSize, exampleSize: l.exampleSize,
		augment: l.augment, seed: l.seed, epoch: uint64(epoch), first: p.Batch,
		ready: e.ready, free: e.free, stop: e.stop.ch, done: e.done,
	})
	return e
}

// allocate creates the buffers on first use (or after a change of ring size).
func (l *Loader) allocate() {
	if len(l.perm) != l.ds.Len() {
		l.perm = make([]int, l.ds.Len())
	}
	if len(l.slots) == l.prefetch+1 {
		return
	}
	l.slots = make([]*slot, l.prefetch+1)
	for i := range l.slots {
		s := &slot{
			x:      make([]float32, l.batchSize*l.exampleSize),
			labels: make([]int, l.batchSize),
			size:   l.exampleSize,
		}
		s.rng = rand.New(&s.pcg)
		l.slots[i] = s
	}
}

// Epoch iterates over the batches of one epoch; see [Loader.Epoch].
type Epoch struct {
	ready chan *slot // filled batches in order; closed after the last one
	free  chan *slot // buffers the filler may use
	stop  *stopSignal
	done  chan struct{} // closed when the filler goroutine has returned

	held     *slot // the batch the caller holds, returned to free by Next
	finished bool
	pos      Position // of the next batch

	shape  []int // the data set's example shape
	tokens bool  // the examples are token ids
}

// Position returns the epoch's position: the index of the batch the next
// call to Next returns (or the number of batches, once all were returned).
func (e *Epoch) Position() Position { return e.pos }

// stopSignal closes its channel once, from Close or from the cleanup.
type stopSignal struct {
	once sync.Once
	ch   chan struct{}
}

func (s *stopSignal) fire() { s.once.Do(func() { close(s.ch) }) }

// Next returns the next batch of the epoch, or false when the epoch is over
// (or was closed). The previous batch's buffer is recycled by this call.
func (e *Epoch) Next() (Batch, bool) {
	if e.finished {
		return Batch{}, false
	}
	if e.held != nil {
		e.free <- e.held // never blocks: free has room for every buffer
		e.held = nil
	}
	s, ok := <-e.ready
	if !ok {
		e.Close()
		return Batch{}, false
	}
	e.held = s
	e.pos.Batch = s.index + 1
	return Batch{X: s.x[:s.n*s.size], Labels: s.labels[:s.n], N: s.n, Index: s.index, shape: e.shape, tokens: e.tokens}, true
}

// Close stops the background goroutine and waits for it to return. It is
// safe to call more than once and after the epoch has ended.
func (e *Epoch) Close() {
	if e.finished {
		return
	}
	e.stop.fire()
	<-e.done
	e.finished = true
	e.held = nil
}

// fillJob is everything the background goroutine needs. It deliberately
// holds no reference to the Epoch or the Loader.
type fillJob struct {
	ds                     Dataset
	order                  []int
	batchSize, exampleSize int
	augment                bool
	seed, epoch            uint64
	first                  int // index of the first batch to produce
	ready, free            chan *slot
	stop, done             chan struct{}
}

// fill produces the epoch's batches in order into free buffers.
func fill(j fillJob) {
	defer close(j.done)
	n := len(j.order)
	for b, start := j.first, j.first*j.batchSize; start < n; b, start = b+1, start+j.batchSize {
		var s *slot
		select {
		case s = <-j.free:
		case <-j.stop:
			return
		}
		end := min(start+j.batchSize, n)
		var rng *rand.Rand
		if j.augment {
			s.pcg.Seed(deriveSeed(j.seed, purposeAugment, j.epoch, uint64(b)))
			rng = s.rng
		}
		for k, idx := range j.order[start:end] {
			s.labels[k] = j.ds.Example(idx, s.x[k*j.exampleSize:(k+1)*j.exampleSize], rng)
		}
		s.n, s.index = end-start, b
		select {
		case j.ready <- s:
		case <-j.stop:
			return
		}
	}
	close(j.ready)
}

// Purposes keep the generator streams for the order and for augmentation
// apart even where their other inputs coincide.
const (
	purposeOrder   = 0x6f72646572 // "order"
	purposeAugment = 0x6175676d   // "augm"
)

// deriveSeed hashes its inputs into the two words of a PCG seed. SplitMix64's
// finaliser makes nearby inputs (epoch 1 and 2) give unrelated streams.
func deriveSeed(seed, purpose, epoch, batch uint64) (uint64, uint64) {
	h := splitmix(seed ^ splitmix(purpose))
	h = splitmix(h ^ epoch)
	return h, splitmix(h ^ splitmix(batch+purpose))
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
