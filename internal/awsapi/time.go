package awsapi

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Time is a timestamp in an AWS JSON 1.1 body: epoch seconds. It accepts
// integers, fractions and (as some SDKs send) ISO 8601 strings, and writes
// fractional seconds as botocore expects.
type Time struct{ time.Time }

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	ms := t.UnixMilli()
	return strconv.AppendFloat(nil, float64(ms)/1000, 'f', -1, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		s, err := strconv.Unquote(string(b))
		if err != nil {
			return err
		}
		if v, err := strconv.ParseFloat(s, 64); err == nil {
			return t.setEpoch(v)
		}
		p, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("timestamp %q is neither epoch seconds nor ISO 8601", s)
		}
		t.Time = p.UTC()
		return nil
	}
	v, err := strconv.ParseFloat(string(bytes.TrimSpace(b)), 64)
	if err != nil {
		return fmt.Errorf("timestamp %s is not a number", b)
	}
	return t.setEpoch(v)
}

func (t *Time) setEpoch(v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > 1e11 {
		return fmt.Errorf("timestamp %v is out of range", v)
	}
	// Microseconds, rounded: a float's binary fraction would otherwise turn
	// .869 into .868999958.
	t.Time = time.UnixMicro(int64(math.Round(v * 1e6))).UTC()
	return nil
}
