package train

import (
	"encoding/json"
	"math"
	"strconv"
)

// A diverged run has NaN or infinite losses, and JSON has no such numbers:
// encoding/json refuses to marshal them, which would make the run fail while
// writing metrics.jsonl instead of reporting that it diverged. EpochMetrics
// and Summary therefore write a non-finite number as null, and read null
// back as NaN. Every other field is encoded exactly as before.

// nullFloat is a float64 whose JSON form is null when it is NaN or ±Inf.
type nullFloat float64

func (f nullFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(v)
}

func (f *nullFloat) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = nullFloat(math.NaN())
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return err
	}
	*f = nullFloat(v)
	return nil
}

// plainEpoch and plainSummary have the fields but not the methods, so the
// methods below can embed them without recursing. The outer fields of the
// same JSON name take precedence over the embedded ones.
type (
	plainEpoch   EpochMetrics
	plainSummary Summary
)

type epochJSON struct {
	*plainEpoch
	TrainLoss    nullFloat `json:"train_loss"`
	TrainAcc     nullFloat `json:"train_acc"`
	TestLoss     nullFloat `json:"test_loss"`
	TestAcc      nullFloat `json:"test_acc"`
	LR           nullFloat `json:"lr"`
	Seconds      nullFloat `json:"seconds"`
	ImagesPerSec nullFloat `json:"images_per_sec"`
}

// MarshalJSON writes NaN and infinite numbers as null.
func (m EpochMetrics) MarshalJSON() ([]byte, error) {
	p := plainEpoch(m)
	return json.Marshal(epochJSON{&p,
		nullFloat(m.TrainLoss), nullFloat(m.TrainAcc), nullFloat(m.TestLoss), nullFloat(m.TestAcc),
		nullFloat(m.LR), nullFloat(m.Seconds), nullFloat(m.ImagesPerSec),
	})
}

// UnmarshalJSON reads null numbers as NaN.
func (m *EpochMetrics) UnmarshalJSON(b []byte) error {
	aux := epochJSON{plainEpoch: (*plainEpoch)(m)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	m.TrainLoss, m.TrainAcc, m.TestLoss, m.TestAcc = float64(aux.TrainLoss), float64(aux.TrainAcc), float64(aux.TestLoss), float64(aux.TestAcc)
	m.LR, m.Seconds, m.ImagesPerSec = float64(aux.LR), float64(aux.Seconds), float64(aux.ImagesPerSec)
	return nil
}

type summaryJSON struct {
	*plainSummary
	FinalTestAcc  nullFloat `json:"final_test_acc"`
	FinalTestLoss nullFloat `json:"final_test_loss"`
	BestTestAcc   nullFloat `json:"best_test_acc"`
	WallSeconds   nullFloat `json:"wall_seconds"`
}

// MarshalJSON writes NaN and infinite numbers as null.
func (s Summary) MarshalJSON() ([]byte, error) {
	p := plainSummary(s)
	return json.Marshal(summaryJSON{&p,
		nullFloat(s.FinalTestAcc), nullFloat(s.FinalTestLoss), nullFloat(s.BestTestAcc), nullFloat(s.WallSeconds),
	})
}

// UnmarshalJSON reads null numbers as NaN.
func (s *Summary) UnmarshalJSON(b []byte) error {
	aux := summaryJSON{plainSummary: (*plainSummary)(s)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	s.FinalTestAcc, s.FinalTestLoss, s.BestTestAcc, s.WallSeconds = float64(aux.FinalTestAcc), float64(aux.FinalTestLoss), float64(aux.BestTestAcc), float64(aux.WallSeconds)
	return nil
}
