// Package limits is where mirage checks the numbers a user hands it: every
// flag, sweep-spec value, checkpoint setting and backend option goes
// through the same few functions, so that NaN, ±Inf, out-of-range values and
// sizes that cannot fit in memory are refused in one consistent way, with
// one line that names the setting, the value and what to do instead.
//
// Numbers are checked with a [Float] or [Int] range:
//
//	lr := limits.Float{Min: 0, OpenMin: true, Max: 1e6}
//	if err := lr.Check("--lr", v); err != nil { ... }
//
// [Float.Parse] and [Int.Parse] read text (flags, backend options) and
// check it in one step; [FloatFlag], [IntFlag] and [DurationFlag] are
// flag.Value types for flags that hold a checked number.
//
// Sizes are checked against a [Memory] budget, read from the system
// ([ReadMemory]) or given explicitly (tests, and $MIRAGE_MEMORY_LIMIT):
//
//	mem.Check("--batch-size 100000000", need, "lower --batch-size")
//
// refuses a setting whose tensors would need more than the memory available
// and puts the estimate in the message.
package limits

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Float is the range of a floating-point setting. Values must be finite
// (NaN and ±Inf are always refused) and lie in [Min, Max], or in the open
// interval at the ends marked open. A zero Max means no upper limit beyond
// finiteness.
type Float struct {
	Min, Max         float64
	OpenMin, OpenMax bool
	// Hint completes the message, e.g. "0 disables clipping".
	Hint string
}

// Check returns nil when v is finite and in range, and otherwise an error
// naming the setting and the valid range.
func (r Float) Check(name string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("invalid %s %v: must be a finite number%s", name, v, r.rangeText())
	}
	below := v < r.Min || (r.OpenMin && v == r.Min)
	above := r.Max != 0 && (v > r.Max || (r.OpenMax && v == r.Max))
	if below || above {
		return fmt.Errorf("invalid %s %v: must be%s", name, v, r.rangeText())
	}
	return nil
}

func (r Float) rangeText() string {
	var s string
	switch {
	case r.Max == 0 && r.OpenMin:
		s = fmt.Sprintf(" > %v", r.Min)
	case r.Max == 0:
		s = fmt.Sprintf(" ≥ %v", r.Min)
	default:
		lo, hi := "[", "]"
		if r.OpenMin {
			lo = "("
		}
		if r.OpenMax {
			hi = ")"
		}
		s = fmt.Sprintf(" in %s%v, %v%s", lo, r.Min, r.Max, hi)
	}
	if r.Hint != "" {
		s += " (" + r.Hint + ")"
	}
	return s
}

// Parse reads a number and checks it. Go's ParseFloat accepts "NaN", "Inf"
// and hexadecimal forms; the first two are refused by Check.
func (r Float) Parse(name, text string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, fmt.Errorf("invalid %s %q: out of the range of a float64; must be%s", name, text, r.rangeText())
		}
		return 0, fmt.Errorf("invalid %s %q: not a number; must be%s", name, text, r.rangeText())
	}
	return v, r.Check(name, v)
}

// Int is the range [Min, Max] of an integer setting.
type Int struct {
	Min, Max int
	// Hint completes the message, e.g. "0 = all".
	Hint string
}

// Check returns nil when v is in range.
func (r Int) Check(name string, v int) error {
	if v < r.Min || v > r.Max {
		return fmt.Errorf("invalid %s %d: must be%s", name, v, r.rangeText())
	}
	return nil
}

func (r Int) rangeText() string {
	var s string
	if r.Max == math.MaxInt {
		s = fmt.Sprintf(" ≥ %d", r.Min)
	} else {
		s = fmt.Sprintf(" in [%d, %d]", r.Min, r.Max)
	}
	if r.Hint != "" {
		s += " (" + r.Hint + ")"
	}
	return s
}

// Parse reads a decimal integer and checks it.
func (r Int) Parse(name, text string) (int, error) {
	v, err := strconv.Atoi(strings.TrimSpace(text))
	if err != nil {
		return 0, fmt.Errorf("invalid %s %q: not an integer; must be%s", name, text, r.rangeText())
	}
	return v, r.Check(name, v)
}

// FloatFlag is a flag.Value holding a number checked against Range.
type FloatFlag struct {
	Name  string // the flag as the user types it, e.g. "--probe-scale"
	Range Float
	Value float64
}

// String implements flag.Value.
func (f *FloatFlag) String() string {
	if f == nil {
		return ""
	}
	return strconv.FormatFloat(f.Value, 'g', -1, 64)
}

// Set implements flag.Value.
func (f *FloatFlag) Set(s string) error {
	v, err := f.Range.Parse(f.Name, s)
	if err != nil {
		return err
	}
	f.Value = v
	return nil
}

// IntFlag is a flag.Value holding an integer checked against Range.
type IntFlag struct {
	Name  string
	Range Int
	Value int
}

// String implements flag.Value.
func (f *IntFlag) String() string {
	if f == nil {
		return ""
	}
	return strconv.Itoa(f.Value)
}

// Set implements flag.Value.
func (f *IntFlag) Set(s string) error {
	v, err := f.Range.Parse(f.Name, s)
	if err != nil {
		return err
	}
	f.Value = v
	return nil
}

// Duration is the range of a duration setting: above Min (or at it, unless
// OpenMin), and at most Max when Max is not 0.
type Duration struct {
	Min, Max time.Duration
	OpenMin  bool
	Hint     string
}

// Check returns nil when v is in range.
func (r Duration) Check(name string, v time.Duration) error {
	if v < r.Min || r.OpenMin && v == r.Min || r.Max != 0 && v > r.Max {
		return fmt.Errorf("invalid %s %v: must be%s", name, v, r.rangeText())
	}
	return nil
}

func (r Duration) rangeText() string {
	op := "≥"
	if r.OpenMin {
		op = ">"
	}
	s := fmt.Sprintf(" %s %v", op, r.Min)
	if r.Max != 0 {
		s += fmt.Sprintf(" and ≤ %v", r.Max)
	}
	if r.Hint != "" {
		s += " (" + r.Hint + ")"
	}
	return s
}

// Parse reads a duration ("10s", "1m30s") and checks it.
func (r Duration) Parse(name, text string) (time.Duration, error) {
	v, err := time.ParseDuration(strings.TrimSpace(text))
	if err != nil {
		return 0, fmt.Errorf("invalid %s %q: not a duration such as 10s or 1m30s; must be%s", name, text, r.rangeText())
	}
	return v, r.Check(name, v)
}

// DurationFlag is a flag.Value holding a duration checked against Range.
type DurationFlag struct {
	Name  string
	Range Duration
	Value time.Duration
}

// String implements flag.Value.
func (f *DurationFlag) String() string {
	if f == nil {
		return ""
	}
	return f.Value.String()
}

// Set implements flag.Value.
func (f *DurationFlag) Set(s string) error {
	v, err := f.Range.Parse(f.Name, s)
	if err != nil {
		return err
	}
	f.Value = v
	return nil
}

// Uint64Flag is a flag.Value holding any uint64, such as a random seed:
// every value is valid, and text that is not one gets a message in the
// words of the other flags.
type Uint64Flag struct {
	Name  string
	Value uint64
}

// String implements flag.Value.
func (f *Uint64Flag) String() string {
	if f == nil {
		return ""
	}
	return strconv.FormatUint(f.Value, 10)
}

// Set implements flag.Value.
func (f *Uint64Flag) Set(s string) error {
	v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return fmt.Errorf("invalid %s %q: must be an integer in [0, %d]", f.Name, s, uint64(math.MaxUint64))
	}
	f.Value = v
	return nil
}
