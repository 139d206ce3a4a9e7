package datasets

import "fmt"

// maxSkipReasons is how many skip reasons are kept verbatim; the rest are
// only counted, so a folder of 60,000 broken files does not flood the log.
const maxSkipReasons = 5

// Skipped counts the input a loader passed over instead of failing (a
// corrupt image, a malformed review) and keeps the reasons for the first
// few. Loaders never skip silently: they return a Skipped and the caller
// reports it.
type Skipped struct {
	// Noun names what is counted, in the form used after the count, e.g.
	// "file(s)"; empty means "item(s)".
	Noun    string
	Count   int
	Reasons []string
}

// Add counts one skipped item and keeps its reason if there is room.
func (s *Skipped) Add(reason string) {
	s.Count++
	if len(s.Reasons) < maxSkipReasons {
		s.Reasons = append(s.Reasons, reason)
	}
}

// String summarises the skips in one line, e.g.
// "skipped 3 file(s): a/1.jpg: not a JPEG; …; and 1 more".
func (s Skipped) String() string {
	noun := s.Noun
	if noun == "" {
		noun = "item(s)"
	}
	if s.Count == 0 {
		return "skipped nothing"
	}
	msg := fmt.Sprintf("skipped %d %s", s.Count, noun)
	for i, r := range s.Reasons {
		if i == 0 {
			msg += ": "
		} else {
			msg += "; "
		}
		msg += r
	}
	if s.Count > len(s.Reasons) {
		msg += fmt.Sprintf("; and %d more", s.Count-len(s.Reasons))
	}
	return msg
}
