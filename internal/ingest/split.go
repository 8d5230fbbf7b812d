package ingest

import (
	"encoding/json"
	"errors"

	"github.com/cairn-audit/cairn/internal/event"
)

// errNotObject is returned for a body that is valid JSON but not an object.
var errNotObject = errors.New("the request body must be a JSON object")

// splitRequest reads a PutEvents body without decoding the records: it
// validates the whole body once, then cuts each element of Records out as
// its own byte slice (aliasing body), for event.Parse to decode. A bulk
// ingest spends most of its time in JSON; this keeps it to one pass over
// the body plus one per record.
func splitRequest(body []byte) (PutEventsRequest, [][]byte, error) {
	var req PutEventsRequest
	if err := event.ValidateJSON(body); err != nil {
		return req, nil, err
	}
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return req, nil, errNotObject
	}
	var records [][]byte
	err := eachMember(body, i, func(key, value []byte) error {
		var k string
		if err := json.Unmarshal(key, &k); err != nil {
			return err
		}
		switch k {
		case "DefaultAccountId":
			if err := json.Unmarshal(value, &req.DefaultAccountID); err != nil {
				return errors.New("DefaultAccountId must be a string")
			}
		case "Records":
			if value[0] == 'n' { // null
				return nil
			}
			if value[0] != '[' {
				return errors.New("Records must be a list")
			}
			records = records[:0]
			eachElement(value, func(elem []byte) { records = append(records, elem) })
		}
		return nil
	})
	return req, records, err
}

// The scanners below work only on JSON already validated: they track
// nothing but strings and nesting.

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just past the value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return i
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at b[i].
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// eachMember calls fn with the raw key (quoted) and value of each member
// of the object starting at b[i].
func eachMember(b []byte, i int, fn func(key, value []byte) error) error {
	i = skipSpace(b, i+1)
	for i < len(b) && b[i] != '}' {
		ks := i
		i = skipString(b, i)
		key := b[ks:i]
		i = skipSpace(b, i)
		i = skipSpace(b, i+1) // ':'
		vs := i
		i = skipValue(b, i)
		if err := fn(key, b[vs:i]); err != nil {
			return err
		}
		i = skipSpace(b, i)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return nil
}

// eachElement calls fn with each element of the array b.
func eachElement(b []byte, fn func(elem []byte)) {
	i := skipSpace(b, 1)
	for i < len(b) && b[i] != ']' {
		s := i
		i = skipValue(b, i)
		fn(b[s:i])
		i = skipSpace(b, i)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
}
