//go:build !race

package rns

const raceEnabled = false
