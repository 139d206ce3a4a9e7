package experiment

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
)

func TestParseArms(t *testing.T) {
	tests := []struct {
		name, list string
		shared     backend.Options
		want       []Arm
		err        string
	}{
		{name: "plain", list: "fp32,rns,analog", want: []Arm{{"fp32", "fp32", nil}, {"rns", "rns", nil}, {"analog", "analog", nil}}},
		{name: "a/a", list: "fp32, fp32", want: []Arm{{"fp32", "fp32", nil}, {"fp32-2", "fp32", nil}}},
		{name: "per-arm options and a moduli list", list: "rns:rns-moduli=63,64,65:noise-sigma=0.1,fp32",
			want: []Arm{{"rns_rns-moduli=63_64_65_noise-sigma=0.1", "rns", backend.Options{"rns-moduli": "63,64,65", "noise-sigma": "0.1"}}, {"fp32", "fp32", nil}}},
		{name: "shared options go where they apply", list: "fp32,bfp,analog", shared: backend.Options{"tile": "64", "adc-bits": "8"},
			want: []Arm{{"fp32", "fp32", nil}, {"bfp", "bfp", backend.Options{"tile": "64"}}, {"analog", "analog", backend.Options{"tile": "64", "adc-bits": "8"}}}},
		{name: "per-arm option wins over shared", list: "bfp:bfp-bits=4", shared: backend.Options{"bfp-bits": "6"},
			want: []Arm{{"bfp_bfp-bits=4", "bfp", backend.Options{"bfp-bits": "4"}}}},
		{name: "unknown backend", list: "fp32,tpu", err: `unknown backend "tpu"`},
		{name: "option of another backend", list: "bfp:adc-bits=8", err: `backend bfp has no option "adc-bits"`},
		{name: "not knob=value", list: "rns:fast", err: `"fast" is not knob=value`},
		{name: "shared option nobody takes", list: "fp32,bfp", shared: backend.Options{"rrns-redundant": "2"}, err: "--rrns-redundant applies to none"},
		{name: "empty", list: " , ", err: "no backends"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseArms(tc.list, tc.shared, testReg().Backends)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}
