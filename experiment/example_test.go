package experiment_test

import (
	"fmt"

	"github.com/mirage-go/mirage"
	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/experiment"
)

// Arms of a comparison: per-arm options after colons, shared options where
// they apply, and the same backend twice for an A/A check.
func ExampleParseArms() {
	arms, err := experiment.ParseArms("fp32,fp32,rns:noise-sigma=0.12:rrns-redundant=2,analog",
		backend.Options{"adc-bits": "8"}, mirage.Default().Backends)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range arms {
		fmt.Println(a.Label, a.Backend, a.Options)
	}
	// Output:
	// fp32 fp32 map[]
	// fp32-2 fp32 map[]
	// rns_noise-sigma=0.12_rrns-redundant=2 rns map[noise-sigma:0.12 rrns-redundant:2]
	// analog analog map[adc-bits:8]
}

// A spec expands into one row per combination of its grid values, each
// validated before anything runs.
func ExamplePlan() {
	spec, err := experiment.ParseSpec([]byte(`
base: {model: lenet, dataset: mnist, epochs: 2}
backend: rns
grid:
  noise-sigma: [0.1, 0.12]
  rrns-redundant: [0, 2]
groups:
  - name: baseline
    backend: fp32
    grid: {noise-sigma: null, rrns-redundant: null}
  - name: rns
`), "noise.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	rows, err := experiment.Plan(spec, mirage.Default())
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range rows {
		fmt.Println(r.Index+1, r.Config.Backend, r.Label())
	}
	// Output:
	// 1 fp32 fp32
	// 2 rns noise-sigma=0.1 rrns-redundant=0
	// 3 rns noise-sigma=0.1 rrns-redundant=2
	// 4 rns noise-sigma=0.12 rrns-redundant=0
	// 5 rns noise-sigma=0.12 rrns-redundant=2
}
