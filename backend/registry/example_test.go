package registry_test

import (
	"fmt"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/registry"
)

// The registry decodes a backend's knobs from text (a compare arm such as
// analog:adc-bits=10, a sweep row) into its typed configuration, checked
// as a whole.
func ExampleNew() {
	reg := registry.New()
	cfg, err := reg.NewConfig("analog", backend.Options{"adc-bits": "10", "noise-sigma": "0"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%T adc-bits=%s\n", cfg, backend.EncodeOptions(cfg)["adc-bits"])

	_, err = reg.NewConfig("analog", backend.Options{"noise-sigma": "NaN"})
	fmt.Println(err)
	// Output:
	// *analog.Config adc-bits=10
	// invalid --noise-sigma NaN: must be a finite number in [0, 1e+06] (in steps; far below the limit every readout is already uniformly random)
}
