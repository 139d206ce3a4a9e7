package cost

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Kinds of hardware a parameter file describes.
const (
	KindMirage   = "mirage"
	KindSystolic = "systolic"
)

// Params is one hardware parameter file: a Mirage-like RNS photonic
// accelerator (Kind "mirage", the Format, Photonic, Converters, Optics and
// Digital sections) or a digital systolic array (Kind "systolic", the
// Systolic section). Memory and Host apply to both.
//
// Every number is required: a file that leaves one out is refused, so no
// value is ever a hidden default. Numbers must be finite and non-negative;
// those marked positive must be above zero.
type Params struct {
	Name        string `yaml:"name"`
	Kind        string `yaml:"kind"`
	Description string `yaml:"description" cost:"optional"`

	Format     *Format          `yaml:"format" cost:"mirage"`
	Photonic   *PhotonicParams  `yaml:"photonic" cost:"mirage"`
	Converters *ConverterParams `yaml:"converters" cost:"mirage"`
	Optics     *OpticsParams    `yaml:"optics" cost:"mirage"`
	Digital    *DigitalParams   `yaml:"digital" cost:"mirage"`
	Systolic   *SystolicParams  `yaml:"systolic" cost:"systolic"`
	Memory     MemoryParams     `yaml:"memory"`
	Host       HostParams       `yaml:"host"`

	// Source is where the parameters were read from (a file name or
	// "preset NAME"); errors name it.
	Source string `yaml:"-"`
}

// Format is the number format of the RNS core: the moduli, the BFP
// mantissa width and the tile length h along the reduction dimension.
type Format struct {
	Moduli    []int64 `yaml:"moduli" json:"moduli"`
	Redundant []int64 `yaml:"redundant_moduli" json:"redundant_moduli,omitempty" cost:"optional"`
	Bits      int     `yaml:"mantissa_bits" json:"mantissa_bits" cost:"positive"`
	Tile      int     `yaml:"tile" json:"tile" cost:"positive"`
}

// PhotonicParams sizes the photonic core.
type PhotonicParams struct {
	// ClockGHz is the rate of optical passes (and of the converters).
	ClockGHz float64 `yaml:"clock_ghz" cost:"positive"`
	// Arrays is the number of modular matrix-vector units (MMVMU) working
	// in parallel; each has one bank per modulus.
	Arrays int `yaml:"arrays" cost:"positive"`
	// Rows is the number of modular dot products one bank computes per
	// pass (the outputs of one MMVMU); Tile is their length.
	Rows int `yaml:"rows" cost:"positive"`
	// WeightLoadCycles is the time to program a new h×Rows weight tile.
	WeightLoadCycles float64 `yaml:"weight_load_cycles"`
}

// ConverterParams are energies per conversion at a reference resolution.
// A converter for modulus m needs ceil(log2 m) bits; its energy is scaled
// by 2^(bits-ref) (Walden figure of merit: energy per conversion-step).
type ConverterParams struct {
	DACPJ   float64 `yaml:"dac_pj"`
	DACBits int     `yaml:"dac_bits" cost:"positive"`
	ADCPJ   float64 `yaml:"adc_pj"`
	ADCBits int     `yaml:"adc_bits" cost:"positive"`
	TIAPJ   float64 `yaml:"tia_pj"`
}

// OpticsParams is the optical loss budget and the laser.
type OpticsParams struct {
	LaserWallPlug      float64 `yaml:"laser_wall_plug" cost:"positive"`
	Responsivity       float64 `yaml:"responsivity_a_per_w" cost:"positive"`
	DetectorCurrentUA  float64 `yaml:"detector_current_ua"`
	EdgeCouplerDB      float64 `yaml:"edge_coupler_db"`
	EdgeCouplers       int     `yaml:"edge_couplers"`
	MicroringDB        float64 `yaml:"microring_db"`
	Microrings         int     `yaml:"microrings"`
	PhaseShifterDB     float64 `yaml:"phase_shifter_db"`
	PhaseShifters      float64 `yaml:"phase_shifters_in_path"`
	PhaseShiftersTiles float64 `yaml:"phase_shifters_per_tile_element"`
	Wavelengths        int     `yaml:"wavelengths" cost:"positive"`
	LaserPowerFactor   float64 `yaml:"laser_power_factor" cost:"positive"`
}

// DigitalParams are the digital operations around the core, in pJ at the
// 45 nm node of the sources, multiplied by TechnologyScale. The BFP and RNS
// conversion energies are per element at 8-bit mantissas and scale with
// the mantissa width.
type DigitalParams struct {
	TechnologyScale float64 `yaml:"technology_scale" cost:"positive"`
	BFPConvertPJ    float64 `yaml:"bfp_convert_pj"`
	RNSConvertPJ    float64 `yaml:"rns_convert_pj"`
	CRTPJ           float64 `yaml:"crt_pj"`
	RRNSPJ          float64 `yaml:"rrns_pj"`
	AccumulatePJ    float64 `yaml:"accumulate_pj"`
	StaticW         float64 `yaml:"static_w_per_array"`
	AreaMM2         float64 `yaml:"area_mm2_per_array" cost:"positive"`
}

// SystolicParams is an output-stationary systolic array of Rows×Cols PEs.
type SystolicParams struct {
	Rows            int     `yaml:"rows" cost:"positive"`
	Cols            int     `yaml:"cols" cost:"positive"`
	ClockGHz        float64 `yaml:"clock_ghz" cost:"positive"`
	Arrays          int     `yaml:"arrays" cost:"positive"`
	MultPJ          float64 `yaml:"mult_pj"`
	AddPJ           float64 `yaml:"add_pj"`
	LeakageW        float64 `yaml:"leakage_w_per_array"`
	AreaMM2         float64 `yaml:"area_mm2_per_array" cost:"positive"`
	TechnologyScale float64 `yaml:"technology_scale" cost:"positive"`
}

// MemoryParams is the memory hierarchy: on-chip SRAM and off-chip DRAM,
// in pJ per byte moved (already at the node of the hardware: not scaled).
type MemoryParams struct {
	SRAMPJPerByte float64 `yaml:"sram_pj_per_byte"`
	DRAMPJPerByte float64 `yaml:"dram_pj_per_byte"`
	// OperandBytes is the size of one operand element as stored (FP32
	// for Mirage, whose BFP conversion happens on chip); OutputBytes that
	// of one result element.
	OperandBytes float64 `yaml:"operand_bytes" cost:"positive"`
	OutputBytes  float64 `yaml:"output_bytes" cost:"positive"`
}

// HostParams is the digital FP32 vector unit that runs the non-GEMM work
// of a step (and the GEMMs of layers kept in FP32 on Mirage).
type HostParams struct {
	Lanes    int     `yaml:"lanes" cost:"positive"`
	ClockGHz float64 `yaml:"clock_ghz" cost:"positive"`
	OpPJ     float64 `yaml:"op_pj"`
}

//go:embed presets/*.yaml
var presetFS embed.FS

// Presets lists the names of the embedded parameter files, sorted.
func Presets() []string {
	entries, _ := presetFS.ReadDir("presets")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(names)
	return names
}

// Preset returns the embedded parameter file called name.
func Preset(name string) (*Params, error) {
	data, err := presetFS.ReadFile(path.Join("presets", name+".yaml"))
	if err != nil {
		return nil, fmt.Errorf("unknown hardware preset %q (valid: %s, or a parameter file with --params)", name, strings.Join(Presets(), ", "))
	}
	return Parse(data, "preset "+name)
}

// PresetSource returns the text of the embedded parameter file called
// name, comments (the sources of the numbers) included.
func PresetSource(name string) ([]byte, error) {
	data, err := presetFS.ReadFile(path.Join("presets", name+".yaml"))
	if err != nil {
		return nil, fmt.Errorf("unknown hardware preset %q (valid: %s)", name, strings.Join(Presets(), ", "))
	}
	return data, nil
}

// maxParamsFile bounds a parameter file: they are a page of text.
const maxParamsFile = 1 << 20

// Load reads and validates a parameter file.
func Load(file string) (*Params, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("cannot read parameter file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxParamsFile+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read parameter file %s: %w", file, err)
	}
	if len(data) > maxParamsFile {
		return nil, fmt.Errorf("%s: parameter file larger than %d bytes", file, maxParamsFile)
	}
	return Parse(data, file)
}

// Parse decodes and validates a parameter file; source names it in
// errors. Every error is one line naming the source and the field.
func Parse(data []byte, source string) (*Params, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %s", source, oneLine(err))
	}
	if len(root.Content) == 0 {
		return nil, fmt.Errorf("%s: empty parameter file", source)
	}
	var p Params
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		msg := oneLine(err)
		var line int
		if _, scanErr := fmt.Sscanf(msg, "line %d:", &line); scanErr == nil {
			if field := fieldAt(root.Content[0], line, ""); field != "" {
				msg = "field " + field + ": " + msg
			}
		}
		return nil, fmt.Errorf("%s: %s", source, msg)
	}
	p.Source = source
	if err := p.validate(root.Content[0]); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return &p, nil
}

// fieldAt returns the dotted path of the key on line, or "".
func fieldAt(n *yaml.Node, line int, prefix string) string {
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Line == line {
			return prefix + k.Value
		}
		if f := fieldAt(v, line, prefix+k.Value+"."); f != "" {
			return f
		}
	}
	return ""
}

// oneLine turns yaml's multi-line error lists into one line.
func oneLine(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:")
	fields := strings.Fields(strings.ReplaceAll(s, "\n", " "))
	return strings.Join(fields, " ")
}

// validate checks presence, ranges and consistency.
func (p *Params) validate(doc *yaml.Node) error {
	if doc.Kind != yaml.MappingNode {
		return errors.New("a parameter file is a mapping of fields (name, kind, ...)")
	}
	if p.Kind != KindMirage && p.Kind != KindSystolic {
		return fmt.Errorf("field kind: %q is not %s or %s", p.Kind, KindMirage, KindSystolic)
	}
	if strings.TrimSpace(p.Name) == "" {
		return errors.New("field name: missing or empty")
	}
	if err := checkFields(doc, reflect.ValueOf(p).Elem(), "", p.Kind); err != nil {
		return err
	}
	if p.Kind == KindMirage {
		if err := p.Format.Validate(); err != nil {
			return fmt.Errorf("field format: %w", err)
		}
		if p.Optics.LaserWallPlug > 1 {
			return fmt.Errorf("field optics.laser_wall_plug: %g is above 1 (a fraction of the electrical power)", p.Optics.LaserWallPlug)
		}
	}
	return nil
}

// checkFields walks a struct and its YAML mapping together: every field
// must be present (unless tagged optional, or a section of the other
// kind, which must then be absent), numbers finite and non-negative,
// positive where tagged.
func checkFields(node *yaml.Node, v reflect.Value, prefix, kind string) error {
	present := map[string]*yaml.Node{}
	if node != nil && node.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(node.Content); i += 2 {
			present[node.Content[i].Value] = node.Content[i+1]
		}
	}
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || name == "" {
			continue
		}
		tag := f.Tag.Get("cost")
		full := prefix + name
		child, ok := present[name]
		if ok && child.Tag == "!!null" {
			ok = false
		}
		if tag == KindMirage || tag == KindSystolic {
			if tag != kind {
				if ok {
					return fmt.Errorf("field %s: not used by kind %s (remove it)", full, kind)
				}
				continue
			}
		}
		if !ok {
			if tag == "optional" {
				continue
			}
			return fmt.Errorf("field %s: missing (every parameter is required, see cost/presets for documented values)", full)
		}
		fv := v.Field(i)
		if fv.Kind() == reflect.Pointer {
			fv = fv.Elem()
		}
		switch fv.Kind() {
		case reflect.Struct:
			if child.Kind != yaml.MappingNode {
				return fmt.Errorf("field %s: must be a mapping", full)
			}
			if err := checkFields(child, fv, full+".", kind); err != nil {
				return err
			}
		case reflect.Float64:
			x := fv.Float()
			if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 || x > 1e30 {
				return fmt.Errorf("field %s: %v must be a finite, non-negative number", full, x)
			}
			if tag == "positive" && x == 0 {
				return fmt.Errorf("field %s: must be positive", full)
			}
		case reflect.Int:
			x := fv.Int()
			if x < 0 || x > 1<<30 {
				return fmt.Errorf("field %s: %d must be between 0 and 2^30", full, x)
			}
			if tag == "positive" && x == 0 {
				return fmt.Errorf("field %s: must be positive", full)
			}
		}
	}
	return nil
}
