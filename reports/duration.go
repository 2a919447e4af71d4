package reports

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Duration is a time.Duration written in JSON as a number of seconds. It also reads a Go
// duration string ("1.5s").
type Duration time.Duration

// D is the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Seconds is the duration in seconds.
func (d Duration) Seconds() float64 { return time.Duration(d).Seconds() }

// MarshalJSON writes seconds.
func (d Duration) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, time.Duration(d).Seconds(), 'f', -1, 64), nil
}

// UnmarshalJSON reads seconds or a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	if math.IsNaN(f) || math.Abs(f) > math.MaxInt64/float64(time.Second) {
		return fmt.Errorf("duration %v s is out of range", f)
	}
	*d = Duration(math.Round(f * float64(time.Second)))
	return nil
}

// fmtDuration formats a duration for people: 850µs, 12.3ms, 1.234s, 1m3s.
func fmtDuration(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	var s string
	switch {
	case d == 0:
		s = "0s"
	case d < time.Millisecond:
		s = trimFloat(float64(d)/float64(time.Microsecond), 0) + "µs"
	case d < time.Second:
		s = trimFloat(float64(d)/float64(time.Millisecond), 2) + "ms"
	case d < time.Minute:
		s = trimFloat(d.Seconds(), 3) + "s"
	case d < time.Hour:
		s = fmt.Sprintf("%dm", int(d/time.Minute))
		if rest := trimFloat((d % time.Minute).Seconds(), 1); rest != "0" {
			s += rest + "s"
		}
	default:
		s = d.Round(time.Second).String()
	}
	if neg {
		return "-" + s
	}
	return s
}

// fmtSeconds formats a number of seconds as a duration.
func fmtSeconds(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return fmtDuration(time.Duration(math.Round(v * float64(time.Second))))
}

// trimFloat formats v with at most prec decimals and no trailing zeros.
func trimFloat(v float64, prec int) string {
	s := strconv.FormatFloat(v, 'f', prec, 64)
	if prec > 0 {
		for s[len(s)-1] == '0' {
			s = s[:len(s)-1]
		}
		if s[len(s)-1] == '.' {
			s = s[:len(s)-1]
		}
	}
	return s
}

// fmtValue formats a value in unit: "s" as a duration, "ms" as a duration of milliseconds,
// anything else as a number followed by the unit.
func fmtValue(v float64, unit string) string {
	switch unit {
	case "s":
		return fmtSeconds(v)
	case "ms":
		return fmtSeconds(v / 1000)
	case "%":
		return trimFloat(v, 2) + "%"
	}
	s := fmtNumber(v)
	if unit != "" && unit != "1" {
		s += " " + unit
	}
	return s
}

// fmtNumber formats a plain number with up to 4 significant decimals.
func fmtNumber(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	a := math.Abs(v)
	switch {
	case a >= 100:
		return trimFloat(v, 1)
	case a >= 1:
		return trimFloat(v, 3)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}
