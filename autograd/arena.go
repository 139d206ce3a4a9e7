package autograd

// The tape's arena: why a training step allocates (almost) nothing.
//
// A training step of a convolutional network produces hundreds of
// megabytes of activations, gradients and op-internal matrices, and the
// next step needs buffers of exactly the same sizes again. Allocating them
// afresh costs more than computing with them: the runtime zeroes every new
// buffer, the garbage collector scans and frees them, and memory returned to
// the operating system page-faults back in. So the tape recycles them.
//
// Lifetime contract: while the tape records (not in no-grad mode), a tensor
// produced by an op — its value, its gradient, and any internal buffer its
// backward pass needs — lives in the tape's arena and stays valid until the
// tape's next Reset, which hands every buffer back for the next step to
// reuse. Copy what must outlive the step (as a training loop does with the
// loss value). In no-grad mode op outputs are ordinary garbage-collected
// memory, so an evaluation loop that never calls Reset does not grow.
// Leaves (parameters and inputs made with New, Zeros, Param, ...) never
// live in the arena, and their gradients persist: they accumulate until
// ZeroGrad, as in PyTorch.

// pool recycles slices of one element type. Buffers are matched by exact
// length: a training step asks for the same sizes in every step, so after
// the first step every request is served from the free lists.
type pool[T any] struct {
	free  map[int][][]T // by length, ready to hand out
	inUse [][]T         // handed out since the last reset
}

// get returns a slice of n elements with UNSPECIFIED contents, owned by
// the pool until the next reset.
func (p *pool[T]) get(n int) []T {
	if n == 0 {
		return []T{}
	}
	var buf []T
	if l := p.free[n]; len(l) > 0 {
		buf = l[len(l)-1]
		l[len(l)-1] = nil
		p.free[n] = l[:len(l)-1]
	} else {
		buf = make([]T, n)
	}
	p.inUse = append(p.inUse, buf)
	return buf
}

// getZeroed returns a slice of n zero elements, owned by the pool until the
// next reset.
func (p *pool[T]) getZeroed(n int) []T {
	buf := p.get(n)
	clear(buf)
	return buf
}

// release hands buf back before the next reset, for buffers that live only
// during one forward or backward function. A buffer the pool does not own
// is ignored.
func (p *pool[T]) release(buf []T) {
	if len(buf) == 0 {
		return
	}
	// Search from the end: the buffer released is usually a recent one.
	for i := len(p.inUse) - 1; i >= 0; i-- {
		b := p.inUse[i]
		if len(b) > 0 && &b[0] == &buf[0] {
			last := len(p.inUse) - 1
			p.inUse[i] = p.inUse[last]
			p.inUse[last] = nil
			p.inUse = p.inUse[:last]
			p.put(b)
			return
		}
	}
}

// reset makes every buffer handed out available again.
func (p *pool[T]) reset() {
	for i, b := range p.inUse {
		p.put(b)
		p.inUse[i] = nil
	}
	p.inUse = p.inUse[:0]
}

func (p *pool[T]) put(b []T) {
	if p.free == nil {
		p.free = map[int][][]T{}
	}
	p.free[len(b)] = append(p.free[len(b)], b)
}

// arena is the tape's recycled memory: float32 buffers for values,
// gradients and scratch matrices, int32 buffers for indices (max-pool's
// arg-max, embedding rows), and the Tensor headers of op outputs.
type arena struct {
	floats  pool[float32]
	ints    pool[int32]
	tensors []*Tensor // headers handed out are tensors[:nextTensor]
	next    int
}

// tensor returns a cleared Tensor header owned by the arena.
func (a *arena) tensor() *Tensor {
	if a.next == len(a.tensors) {
		a.tensors = append(a.tensors, new(Tensor))
	}
	t := a.tensors[a.next]
	a.next++
	*t = Tensor{}
	return t
}

// reset makes every buffer and header handed out available again.
func (a *arena) reset() {
	a.floats.reset()
	a.ints.reset()
	a.next = 0
}
