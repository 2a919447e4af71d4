package behaviour

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Distribution is a random duration.
type Distribution struct {
	// Kind is fixed (the default), uniform, normal or longtail.
	Kind   string        `yaml:"distribution"`
	Value  time.Duration `yaml:"value"`  // fixed
	Min    time.Duration `yaml:"min"`    // uniform; lower clamp of the others
	Max    time.Duration `yaml:"max"`    // uniform; upper clamp of the others when set
	Mean   time.Duration `yaml:"mean"`   // normal
	StdDev time.Duration `yaml:"stddev"` // normal
	Median time.Duration `yaml:"median"` // longtail (log-normal)
	P99    time.Duration `yaml:"p99"`    // longtail: the 99th percentile, above the median
}

// z99 is the standard normal 99th percentile.
const z99 = 2.3263478740408408

// Validate checks the parameters of the chosen kind.
func (d Distribution) Validate() error {
	var errs []error
	neg := func(name string, v time.Duration) {
		if v < 0 {
			errs = append(errs, fmt.Errorf("%s %s is negative", name, v))
		}
	}
	neg("value", d.Value)
	neg("min", d.Min)
	neg("max", d.Max)
	neg("mean", d.Mean)
	neg("stddev", d.StdDev)
	neg("median", d.Median)
	neg("p99", d.P99)
	if d.Max > 0 && d.Min > d.Max {
		errs = append(errs, fmt.Errorf("min %s is above max %s", d.Min, d.Max))
	}
	switch d.Kind {
	case "", "fixed":
	case "uniform":
		if d.Max <= d.Min {
			errs = append(errs, errors.New("uniform needs max above min"))
		}
	case "normal":
		if d.Mean == 0 && d.StdDev == 0 {
			errs = append(errs, errors.New("normal needs mean and stddev"))
		}
	case "longtail":
		if d.Median <= 0 || d.P99 <= d.Median {
			errs = append(errs, errors.New("longtail needs a median and a p99 above it"))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown distribution %q (fixed, uniform, normal, longtail)", d.Kind))
	}
	return errors.Join(errs...)
}

// Sample draws one duration.
func (d Distribution) Sample(r *rand.Rand) time.Duration {
	var v float64
	switch d.Kind {
	case "uniform":
		v = float64(d.Min) + r.Float64()*float64(d.Max-d.Min)
	case "normal":
		v = float64(d.Mean) + r.NormFloat64()*float64(d.StdDev)
	case "longtail":
		sigma := math.Log(float64(d.P99)/float64(d.Median)) / z99
		v = float64(d.Median) * math.Exp(sigma*r.NormFloat64())
	default:
		return d.Value
	}
	if v < float64(d.Min) {
		v = float64(d.Min)
	}
	if d.Max > 0 && v > float64(d.Max) {
		v = float64(d.Max)
	}
	if v > math.MaxInt64/2 {
		v = math.MaxInt64 / 2
	}
	return time.Duration(v)
}
