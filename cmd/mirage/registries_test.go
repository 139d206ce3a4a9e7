package main

import "github.com/mirage-go/mirage"

// testReg returns what main passes to every command: the shipped models,
// data sets and backends.
func testReg() mirage.Registries { return mirage.Default() }
