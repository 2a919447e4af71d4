package wire

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// TimeFormat is RFC 1123 in GMT, as Ruby's Time#httpdate and Erlang's httpd_util:rfc1123_date write it.
const TimeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

// ErrSkew is wrapped by CheckSkew when a timestamp is too far from the local clock.
var ErrSkew = errors.New("wire: message timestamp outside the allowed skew")

// FormatTime renders t as an RFC 1123 GMT timestamp.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// ParseTime parses an HTTP date: RFC 1123 (what every known sender writes), and also the
// RFC 850 and asctime forms HTTP date parsers accept.
func ParseTime(s string) (time.Time, error) {
	t, err := http.ParseTime(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("wire: bad timestamp %q: not an RFC 1123 date", s)
	}
	return t, nil
}

// CheckSkew returns an error if ts does not parse, or if it differs from now by max or more
// in either direction (the server's rule, pushy_common max_time_skew).
func CheckSkew(ts string, now time.Time, max time.Duration) error {
	t, err := ParseTime(ts)
	if err != nil {
		return err
	}
	d := now.Sub(t)
	if d < 0 {
		d = -d
	}
	if d >= max {
		return fmt.Errorf("%w: %q is %s from now (max %s)", ErrSkew, ts, d, max)
	}
	return nil
}
