//go:build !openblas || !cgo

package bench

// openBLAS is nil: this binary was built without -tags openblas.
var openBLAS SgemmFunc

// openBLASInfo is nil: this binary was built without -tags openblas.
var openBLASInfo func() string
