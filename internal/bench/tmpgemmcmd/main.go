// Temporary driver for measurements while cmd/mirage/main.go does not exist; to be deleted.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/mirage-go/mirage/internal/bench"
)

func main() {
	shapes := flag.String("shapes", "", "")
	reps := flag.Int("reps", 7, "")
	flag.Parse()
	ss := bench.DefaultShapes()
	if *shapes != "" {
		var err error
		if ss, err = bench.ParseShapes(*shapes); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
	}
	res, err := bench.MeasureGEMM(bench.Impls(), ss, bench.Options{Reps: *reps, MinRepTime: 50 * time.Millisecond})
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	bench.WriteGEMMTable(os.Stdout, res)
}
