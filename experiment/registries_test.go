package experiment

import "github.com/mirage-go/mirage"

// testReg returns what the mirage command passes to experiment: the
// shipped models, data sets and backends.
func testReg() mirage.Registries { return mirage.Default() }
