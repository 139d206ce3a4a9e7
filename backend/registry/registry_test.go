package registry

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
)

// Every shipped backend has a typed configuration whose defaults are
// valid, whose flags are the registry's options, and whose serialised form
// round-trips: config → options → config is the identity.
func TestDescriptorsRoundTrip(t *testing.T) {
	reg := New()
	require.Equal(t, []string{"analog", "bfp", "fp32", "rns"}, reg.Names())
	for _, name := range reg.Names() {
		cfg, err := reg.NewConfig(name, nil)
		require.NoError(t, err, name)
		require.NoError(t, cfg.Validate(), name)
		specs := backend.OptionSpecs(cfg)
		require.Equal(t, specs, reg.Options(name), name)
		opts := backend.EncodeOptions(cfg)
		require.Len(t, opts, len(specs), name)
		for _, o := range specs {
			require.Equal(t, o.Default, opts[o.Name], "%s --%s", name, o.Name)
		}
		back, err := reg.NewConfig(name, opts)
		require.NoError(t, err, name)
		require.Equal(t, cfg, back, name)
		b, err := reg.New(name, opts)
		require.NoError(t, err, name)
		require.Equal(t, name, b.Name())
	}
}

func TestRegistryRefuses(t *testing.T) {
	reg := New()
	_, err := reg.New("tpu", nil)
	require.EqualError(t, err, `unknown backend "tpu" (valid: analog, bfp, fp32, rns)`)
	_, err = reg.NewConfig("tpu", nil)
	require.EqualError(t, err, `unknown backend "tpu" (valid: analog, bfp, fp32, rns)`)
	_, err = reg.New("fp32", backend.Options{"tile": "8"})
	require.EqualError(t, err, "option --tile does not apply to backend fp32 (its options: none)")
	_, err = reg.NewConfig("analog", backend.Options{"rns-mode": "fast"})
	require.ErrorContains(t, err, "option --rns-mode does not apply to backend analog (its options: --adc-bits, --bfp-bits,")
	_, err = reg.NewConfig("rns", backend.Options{"noise-sigma": "Inf"})
	require.ErrorContains(t, err, "invalid --noise-sigma +Inf: must be a finite number")
	require.ErrorContains(t, reg.Add(backend.Descriptor{Name: "rns", NewConfig: func() backend.Config { return nil }, New: func(backend.Config) (backend.Backend, error) { return nil, nil }}), `backend "rns" registered twice`)
	require.ErrorContains(t, reg.Add(backend.Descriptor{Name: "half"}), "needs a name, NewConfig and New")
}
