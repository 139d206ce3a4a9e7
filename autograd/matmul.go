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
	out := t.result([]int{m, n}, a, b)
	t.gemm(layer, backend.Forward, m, n, k, a.data, a.shape[1], transA, b.data, b.shape[1], transB, out.data, n, false)
	t.record(out, func(g []float32) {
		t.matmulBackward(layer, a, b, transA, transB, m, n, k, g)
	})
	return out
}

// matmulBackward accumulates the gradients of C = op(A)·op(B) given dC (m×n).
func (t *Tape) matmulBackward(layer string, a, b *Tensor, transA, transB bool, m, n, k int, g []float32) {
	if ga := gradOf(a); ga != nil {
		if !transA { // dA = dC·op(B)ᵀ, m×k
			t.gemm(layer, backend.GradInput, m, k, n, g, n, false, b.data, b.shape[1], !transB, ga, k, true)
		} else { // dA = op(B)·dCᵀ, k×m
			t.gemm(layer, backend.GradInput, k, m, n, b.data, b.shape[1], transB, g, n, true, ga, m, true)
		}
	}
	if gb := gradOf(b); gb != nil {
		if !transB { // dB = op(A)ᵀ·dC, k×n
			t.gemm(layer, backend.GradWeight, k, n, m, a.data, a.shape[1], !transA, g, n, false, gb, n, true)
		} else { // dB = dCᵀ·op(A), n×k
			t.gemm(layer, backend.GradWeight, n, k, m, g, n, true, a.data, a.shape[1], transA, gb, k, true)
		}
	}
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
