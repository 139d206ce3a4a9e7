package autograd

// Sum returns the sum of all elements as a scalar tensor.
func (t *Tape) Sum(x *Tensor) *Tensor {
	out := t.result([]int{}, x)
	var s float64
	for _, v := range x.data {
		s += float64(v)
	}
	out.data[0] = float32(s)
	t.record(out, func(g []float32) {
		gx := gradOf(x)
		for i := range gx {
			gx[i] += g[0]
		}
	})
	return out
}

// Mean returns the mean of all elements as a scalar tensor.
func (t *Tape) Mean(x *Tensor) *Tensor {
	return t.Scale(t.Sum(x), 1/float32(x.Numel()))
}
