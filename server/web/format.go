package web

import (
	"strconv"
	"time"
)

func itoa(n int) string { return strconv.Itoa(n) }

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}
