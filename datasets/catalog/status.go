package catalog

import "fmt"

// Status is what `mirage data` shows for one data set.
type Status struct {
	Name        string
	Description string
	// Location is where the data set was found; "" when it was not.
	Location string
	// Looked lists the places searched when it was not found.
	Looked []string
	// Note says how the data set is found or obtained when Location alone
	// does not.
	Note string
	// Checks are the results of Verify; List leaves them empty.
	Checks []Check
}

// OK reports whether the data set was found and every check passed.
func (s Status) OK() bool {
	if s.Location == "" && len(s.Checks) == 0 {
		return false
	}
	for _, c := range s.Checks {
		if !c.OK {
			return false
		}
	}
	return true
}

// Check is one verification of a data set's files.
type Check struct {
	What   string // e.g. "SHA-256", "read"
	OK     bool
	Detail string
}

func (c Check) String() string {
	mark := "ok"
	if !c.OK {
		mark = "FAILED"
	}
	return fmt.Sprintf("%s %s: %s", c.What, mark, c.Detail)
}

// CountCheck compares the example counts a full read found (train, test,
// what they are, and how many were skipped and why) with the published
// ones.
func CountCheck(train, test, wantTrain, wantTest int, what string, skipped int, detail string) Check {
	c := Check{What: "read", OK: train == wantTrain && test == wantTest && skipped == 0,
		Detail: fmt.Sprintf("%d training and %d test %s", train, test, what)}
	if train != wantTrain || test != wantTest {
		c.Detail += fmt.Sprintf(", want %d and %d", wantTrain, wantTest)
	}
	if detail != "" {
		c.Detail += "; " + detail
	}
	return c
}

// SumCheck is the check of a file's checksum sum against the published
// want; err is the error of computing sum, if any. what names the
// checksum, e.g. "SHA-256".
func SumCheck(what, sum, want string, err error) Check {
	if err != nil {
		return Check{what, false, err.Error()}
	}
	if sum != want {
		return Check{what, false, fmt.Sprintf("%s, want %s: the file is damaged or a different version", sum, want)}
	}
	return Check{what, true, sum}
}
