package autograd

import "fmt"

// CrossEntropy returns the mean over the batch of the cross-entropy between
// softmax(logits) and the labels, as a scalar. logits is (N, C) and labels
// holds N class indices in [0, C).
//
// With label smoothing ε (PyTorch's definition) the target distribution is
// (1−ε)·onehot(label) + ε/C, so the loss of one sample is
// (1−ε)·(−log p_label) + (ε/C)·Σ_c (−log p_c). ε = 0 is the plain loss.
//
// A label outside [0, C) (e.g. from a corrupt data file) does not panic: it
// is recorded as the tape's error (returned by Backward and Err) and that
// sample contributes zero.
func (t *Tape) CrossEntropy(logits *Tensor, labels []int, labelSmoothing float32) *Tensor {
	if len(logits.shape) != 2 {
		panic(fmt.Sprintf("autograd.CrossEntropy: logits must be (N, C), got %v", logits.shape))
	}
	n, c := logits.shape[0], logits.shape[1]
	if len(labels) != n {
		panic(fmt.Sprintf("autograd.CrossEntropy: %d labels for a batch of %d", len(labels), n))
	}
	if labelSmoothing < 0 || labelSmoothing > 1 {
		t.setErr(fmt.Errorf("cross-entropy: label smoothing %g is outside [0, 1]", labelSmoothing))
	}
	eps := float64(labelSmoothing)
	out := t.result([]int{}, logits)
	// probs keeps softmax(logits) for the backward pass.
	probs := t.keep(n * c)
	var total float64
	for i := 0; i < n; i++ {
		y := labels[i]
		if y < 0 || y >= c {
			t.setErr(fmt.Errorf("cross-entropy: label %d of sample %d is outside [0, %d): check the dataset's labels against the model's number of classes", y, i, c))
			continue
		}
		xr := logits.data[i*c : (i+1)*c]
		lse := softmaxRow(probs[i*c:(i+1)*c], xr)
		nll := lse - float64(xr[y])
		loss := (1 - eps) * nll
		if eps != 0 {
			var sumNLL float64 // Σ_c −log p_c = C·lse − Σ_c x_c
			for _, v := range xr {
				sumNLL += lse - float64(v)
			}
			loss += eps / float64(c) * sumNLL
		}
		total += loss
	}
	if n > 0 {
		out.data[0] = float32(total / float64(n))
	}
	t.record(out, func(g []float32) {
		gx := gradOf(logits)
		// dL/dx_ij = (p_ij − q_ij)/N with q the smoothed target.
		scale := g[0] / float32(n)
		off := float32(eps / float64(c))
		for i := 0; i < n; i++ {
			y := labels[i]
			if y < 0 || y >= c {
				continue
			}
			pr, gr := probs[i*c:(i+1)*c], gx[i*c:(i+1)*c]
			for j, p := range pr {
				gr[j] += scale * (p - off)
			}
			gr[y] -= scale * float32(1-eps)
		}
	})
	return out
}
