package autograd

import (
	"fmt"
	"slices"
)

// Embedding looks up rows of table (V, D) by the token ids in ids, which
// holds integers stored as float32 in any shape S; the result has shape
// S + (D). The gradient is scattered (added) into the table's rows; ids get
// none.
//
// An id that is not an integer in [0, V) (for example from a vocabulary
// mismatch) does not panic: it is recorded as the tape's error (returned by
// Backward and Err) and its output row is zero.
func (t *Tape) Embedding(ids, table *Tensor) *Tensor {
	if len(table.shape) != 2 {
		panic(fmt.Sprintf("autograd.Embedding: table must be (V, D), got %v", table.shape))
	}
	v, d := table.shape[0], table.shape[1]
	shape := append(slices.Clone(ids.shape), d)
	out := t.result(shape, table)
	// rows[i] is the table row of token i, or -1 for an invalid id.
	rows := t.keepInts(len(ids.data))
	for i, f := range ids.data {
		id := int(f)
		if float32(id) != f || id < 0 || id >= v {
			t.setErr(fmt.Errorf("embedding: token id %g at position %d is not an integer in [0, %d): check the tokenizer's vocabulary size against the embedding table", f, i, v))
			rows[i] = -1
			continue
		}
		rows[i] = int32(id)
		copy(out.data[i*d:(i+1)*d], table.data[id*d:(id+1)*d])
	}
	t.record(out, func(g []float32) {
		gt := gradOf(table)
		for i, id := range rows {
			if id >= 0 {
				r := int(id)
				addTo(gt[r*d:(r+1)*d], g[i*d:(i+1)*d])
			}
		}
	})
	return out
}
