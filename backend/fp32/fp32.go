// Package fp32 is the exact single-precision backend: every GEMM is an
// ordinary FP32 matrix product.
package fp32

import (
	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/internal/gemm"
)

// Backend computes GEMMs in FP32. The zero value is ready to use.
type Backend struct{}

// New returns an FP32 backend.
func New() *Backend { return &Backend{} }

// Name implements backend.Backend.
func (*Backend) Name() string { return "fp32" }

// MatMul implements backend.Backend.
func (*Backend) MatMul(_ backend.Call, g backend.GEMM) error {
	if err := g.Validate(); err != nil {
		return err
	}
	var beta float32
	if g.Accumulate {
		beta = 1
	}
	gemm.Sgemm(g.TransA, g.TransB, g.M, g.N, g.K, 1, g.A, g.LDA, g.B, g.LDB, beta, g.C, g.LDC)
	return nil
}

// ImplicitConv marks the backend as [backend.ImplicitConv]: its products
// are plain float32 GEMMs, so convolutions may run as implicit GEMMs.
func (*Backend) ImplicitConv() {}

// Config is the fp32 backend's configuration, written to summary.json
// under backend_config like every backend's: it has no settings.
type Config struct {
	Backend string `json:"backend"`
}

// Config implements backend.Configurer.
func (*Backend) Config() any { return Config{Backend: "fp32"} }

// Factory builds an FP32 backend; it takes no options.
func Factory(backend.Options) (backend.Backend, error) { return New(), nil }
