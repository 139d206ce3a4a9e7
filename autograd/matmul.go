package autograd

import (
	"fmt"

	"github.com/mirage-go/mirage/backend"
)

// MatMul returns op(a)·op(b) for 2-D a and b, where op transposes its
// operand when the flag is set. All three products (forward, and the
// gradients of a and b) go through the backend tagged with layer; the
// gradient of a is the GradInput role and that of b the GradWeight role.
func (t *Tape) MatMul(a, b *Tensor, transA, transB bool, layer string) *Tensor {
	if len(a.shape) != 2 || len(b.shape) != 2 {
		panic(fmt.Sprintf("autograd.MatMul %s: need 2-D operands, got %v and %v", layer, a.shape, b.shape))
	}
	m, k := a.shape[0], a.shape[1]
	if transA {
		m, k = k, m
	}
	kb, n := b.shape[0], b.shape[1]
	if transB {
		kb, n = n, kb
	}
	if k != kb {
		panic(fmt.Sprintf("autograd.MatMul %s: inner dimensions differ: op(a) is %dx%d, op(b) is %dx%d", layer, m, k, kb, n))
	}
	// The product overwrites every element of out (a backend writes C
	// whole unless asked to accumulate); only an empty reduction is left
	// to the zeroing.
	out := t.resultUninit([]int{m, n}, a, b)
	if k == 0 {
		clear(out.data)
	}
	t.gemm(layer, backend.Forward, m, n, k, a.data, a.shape[1], transA, b.data, b.shape[1], transB, out.data, n, false)
	t.record(out, func(g []float32) {
		t.matmulBackward(layer, a, b, transA, transB, m, n, k, g)
	})
	return out
}

// matmulBackward accumulates the gradients of C = op(A)·op(B) given dC (m×n).
func (t *Tape) matmulBackward(layer string, a, b *Tensor, transA, transB bool, m, n, k int, g []float32) {
	ga, freshA := gradFor(a)
	gb, freshB := gradFor(b) // not fresh when b is a: a's product writes it first
	t.gemmBackward(layer, a.data, a.shape[1], transA, b.data, b.shape[1], transB, grads{ga, freshA, gb, freshB}, m, n, k, g)
}

// grads are the gradient buffers a product's backward pass writes: each
// may be nil (no gradient wanted); a fresh one (see gradFor) is written
// over, the others added to.
type grads struct {
	a      []float32
	freshA bool
	b      []float32
	freshB bool
}

// gemmBackward adds into gr.a and gr.b (or writes, when fresh) the
// gradients of C = op(A)·op(B) given dC (m×n, dense). lda and ldb are the
// row strides of A and B as stored; the gradients use the same storage
// layout and strides, and a fresh one is written whole.
func (t *Tape) gemmBackward(layer string, a []float32, lda int, transA bool, b []float32, ldb int, transB bool, gr grads, m, n, k int, g []float32) {
	if ga := gr.a; ga != nil {
		if gr.freshA && n == 0 { // an empty reduction writes nothing
			clear(ga)
		}
		if !transA { // dA = dC·op(B)ᵀ, m×k
			t.gemm(layer, backend.GradInput, m, k, n, g, n, false, b, ldb, !transB, ga, lda, !gr.freshA)
		} else { // dA = op(B)·dCᵀ, k×m
			t.gemm(layer, backend.GradInput, k, m, n, b, ldb, transB, g, n, true, ga, lda, !gr.freshA)
		}
	}
	if gb := gr.b; gb != nil {
		if gr.freshB && m == 0 {
			clear(gb)
		}
		if !transB { // dB = op(A)ᵀ·dC, k×n
			t.gemm(layer, backend.GradWeight, k, n, m, a, lda, !transA, g, n, false, gb, ldb, !gr.freshB)
		} else { // dB = dCᵀ·op(A), n×k
			t.gemm(layer, backend.GradWeight, n, k, m, g, n, true, a, lda, transA, gb, ldb, !gr.freshB)
		}
	}
}

// BatchedMatMul returns the batch of products op(a[i])·op(b[i]) for 3-D a
// and b with the same leading (batch) size B: a is (B, M, K), or (B, K, M)
// when transA; b is (B, K, N), or (B, N, K) when transB; the result is
// (B, M, N). This is attention's Q·Kᵀ and attention·V with B = batch·heads.
//
// Each batch element is one backend GEMM per role, tagged with layer: the
// forward product, the gradient of a (GradInput) and of b (GradWeight),
// exactly as in MatMul.
func (t *Tape) BatchedMatMul(a, b *Tensor, transA, transB bool, layer string) *Tensor {
	if len(a.shape) != 3 || len(b.shape) != 3 || a.shape[0] != b.shape[0] {
		panic(fmt.Sprintf("autograd.BatchedMatMul %s: need 3-D operands with the same batch size, got %v and %v", layer, a.shape, b.shape))
	}
	batch := a.shape[0]
	ar, ac := a.shape[1], a.shape[2]
	br, bc := b.shape[1], b.shape[2]
	m, k := ar, ac
	if transA {
		m, k = k, m
	}
	kb, n := br, bc
	if transB {
		kb, n = n, kb
	}
	if k != kb {
		panic(fmt.Sprintf("autograd.BatchedMatMul %s: inner dimensions differ: op(a) is %dx%d, op(b) is %dx%d (a %v, b %v)", layer, m, k, kb, n, a.shape, b.shape))
	}
	out := t.resultUninit([]int{batch, m, n}, a, b) // written whole, as in MatMul
	if k == 0 {
		clear(out.data)
	}
	sa, sb, so := ar*ac, br*bc, m*n
	for i := 0; i < batch; i++ {
		t.gemm(layer, backend.Forward, m, n, k, a.data[i*sa:(i+1)*sa], ac, transA, b.data[i*sb:(i+1)*sb], bc, transB, out.data[i*so:(i+1)*so], n, false)
	}
	t.record(out, func(g []float32) {
		// Each batch element's products write their own slices of the
		// gradients, so a fresh buffer is written whole, slice by slice.
		ga, freshA := gradFor(a)
		gb, freshB := gradFor(b)
		for i := 0; i < batch; i++ {
			gr := grads{freshA: freshA, freshB: freshB}
			if ga != nil {
				gr.a = ga[i*sa : (i+1)*sa]
			}
			if gb != nil {
				gr.b = gb[i*sb : (i+1)*sb]
			}
			t.gemmBackward(layer, a.data[i*sa:(i+1)*sa], ac, transA, b.data[i*sb:(i+1)*sb], bc, transB, gr, m, n, k, g[i*so:(i+1)*so])
		}
	})
	return out
}

// gemm is a shorthand for one backend GEMM call.
func (t *Tape) gemm(layer string, role backend.Role, m, n, k int, a []float32, lda int, transA bool, b []float32, ldb int, transB bool, c []float32, ldc int, acc bool) {
	t.matmul(layer, role, backend.GEMM{
		M: m, N: n, K: k,
		A: a, LDA: lda, TransA: transA,
		B: b, LDB: ldb, TransB: transB,
		C: c, LDC: ldc, Accumulate: acc,
	})
}

// Linear returns x·wᵀ + bias for x of shape (N, in), w of shape (out, in)
// and bias of shape (out) or nil: PyTorch's nn.Linear.
func (t *Tape) Linear(x, w, bias *Tensor, layer string) *Tensor {
	y := t.MatMul(x, w, false, true, layer)
	if bias == nil {
		return y
	}
	return t.Add(y, bias)
}
