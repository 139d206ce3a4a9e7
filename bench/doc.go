// Package bench measures the training speed of whole models, for
// `mirage bench train` and BENCHMARKS.md.
//
// A measurement is a full training step of a model from package models on
// synthetic data: forward pass, cross-entropy, backward pass and an
// optimiser update, through any backend. pytorch_train.py in this
// directory measures the same steps in PyTorch, so that the two figures
// compare directly.
//
// The GEMM micro-benchmarks, which need only the kernels, live in
// internal/bench: the packages under internal/ import nothing above them.
package bench
