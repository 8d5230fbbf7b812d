package ingest

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/cairn-audit/cairn/internal/event"
	"github.com/cairn-audit/cairn/internal/safeio"
)

// recordReader cuts records out of a stream of JSON as it comes, holding
// one value at a time: a record, or a member of a document that is not
// its records. Each value is checked to be strict JSON before it is taken.
type recordReader struct {
	w    window
	lim  safeio.Limits
	recs []json.RawMessage
}

// topValue reads one value of a file of records.
func (rr *recordReader) topValue() error {
	switch rr.w.buf[rr.w.pos] {
	case '[':
		return rr.array(true)
	case '{':
		key, err := rr.w.firstKey()
		if err != nil {
			return err
		}
		if key == "Records" || key == "Events" {
			found, err := rr.doc(true)
			if err == nil && !found {
				err = ErrNotRecords
			}
			return err
		}
		v, err := rr.w.value()
		if err != nil {
			return err
		}
		return rr.object(v)
	}
	return ErrNotRecords
}

// object takes a whole object: the records of a document whose list is
// not its first member, or a record.
func (rr *recordReader) object(v []byte) error {
	var records, events []byte
	eachMember(v, 0, func(key, value []byte) error {
		var k string
		if json.Unmarshal(key, &k) == nil && value[0] == '[' {
			switch {
			case k == "Records" && records == nil:
				records = value
			case k == "Events" && events == nil:
				events = value
			}
		}
		return nil
	})
	var err error
	add := func(unwrap bool) func([]byte) {
		return func(e []byte) {
			if err == nil {
				err = rr.add(e, unwrap)
			}
		}
	}
	switch {
	case records != nil:
		eachElement(records, add(false))
	case events != nil:
		// Saved `aws cloudtrail lookup-events` output.
		eachElement(events, add(true))
	default:
		err = rr.add(v, true)
	}
	return err
}

// array reads the array at the reader's position, record by record; with
// unwrap, the CloudTrailEvent inside each LookupEvents result.
func (rr *recordReader) array(unwrap bool) error {
	if err := rr.w.expect('['); err != nil {
		return err
	}
	if ok, err := rr.w.next(']'); ok || err != nil {
		return err
	}
	for {
		v, err := rr.w.value()
		if err != nil {
			return err
		}
		if err := rr.add(v, unwrap); err != nil {
			return err
		}
		if ok, err := rr.w.next(']'); ok || err != nil {
			return err
		}
		if err := rr.w.expect(','); err != nil {
			return err
		}
	}
}

// doc reads the object at the reader's position as a {"Records":[...]}
// document, or, if events, as saved lookup-events output too. It reports
// whether it found the list; other members are checked and dropped.
func (rr *recordReader) doc(events bool) (found bool, err error) {
	if err := rr.w.expect('{'); err != nil {
		return false, err
	}
	if ok, err := rr.w.next('}'); ok || err != nil {
		return false, err
	}
	for {
		if _, err := rr.w.skipSpace(); err != nil {
			return found, err
		}
		if rr.w.pos >= len(rr.w.buf) || rr.w.buf[rr.w.pos] != '"' {
			return found, rr.w.syntax("a member name")
		}
		raw, err := rr.w.value()
		if err != nil {
			return found, err
		}
		var key string
		if err := json.Unmarshal(raw, &key); err != nil {
			return found, err
		}
		if err := rr.w.expect(':'); err != nil {
			return found, err
		}
		list, err := rr.w.peek('[')
		if err != nil {
			return found, err
		}
		switch {
		case list && !found && key == "Records":
			found, err = true, rr.array(false)
		case list && !found && events && key == "Events":
			found, err = true, rr.array(true)
		default:
			_, err = rr.w.value()
		}
		if err != nil {
			return found, err
		}
		if ok, err := rr.w.next('}'); ok || err != nil {
			return found, err
		}
		if err := rr.w.expect(','); err != nil {
			return found, err
		}
	}
}

// add takes a copy of a record: v belongs to the window.
func (rr *recordReader) add(v []byte, unwrap bool) error {
	if err := rr.lim.CheckRecords(len(rr.recs) + 1); err != nil {
		return err
	}
	rec := json.RawMessage(v)
	if unwrap {
		rec = unwrapLookupEvent(rec)
	}
	if len(rec) > 0 && &rec[0] == &v[0] {
		rec = append(json.RawMessage(nil), rec...)
	}
	rr.recs = append(rr.recs, rec)
	return nil
}

// window is the part of a stream being read: buf[pos:] is unread, and
// what is before pos is dropped at the next read.
type window struct {
	r    io.Reader
	buf  []byte
	pos  int
	read int64 // bytes of the stream before buf[0]
	eof  bool
	err  error
}

// fill drops what has been read and reads until the buffer is full or
// the stream ends; when what is unread fills the buffer already, the
// buffer doubles first. A value that did not fit is then scanned again
// from its start over twice as many bytes, so scanning stays linear in
// the size of the value.
func (w *window) fill() error {
	if w.err != nil {
		return w.err
	}
	if w.eof {
		return io.ErrUnexpectedEOF
	}
	w.read += int64(w.pos)
	n := copy(w.buf, w.buf[w.pos:])
	w.buf, w.pos = w.buf[:n], 0
	if n == cap(w.buf) {
		w.buf = append(make([]byte, 0, max(2*cap(w.buf), 64<<10)), w.buf...)
	}
	for empty := 0; len(w.buf) < cap(w.buf); {
		m, err := w.r.Read(w.buf[len(w.buf):cap(w.buf)])
		w.buf = w.buf[:len(w.buf)+m]
		if m == 0 && err == nil {
			if empty++; empty == 100 {
				err = io.ErrNoProgress
			}
		}
		if err == io.EOF {
			w.eof = true
			break
		}
		if err != nil {
			w.err = err
			return err
		}
	}
	return nil
}

// skipSpace moves past whitespace, reporting whether anything follows.
func (w *window) skipSpace() (bool, error) {
	for {
		w.pos = skipSpace(w.buf, w.pos)
		if w.pos < len(w.buf) {
			return true, nil
		}
		if w.eof {
			return false, nil
		}
		if err := w.fill(); err != nil {
			return false, err
		}
	}
}

// peek reports whether c comes next after whitespace.
func (w *window) peek(c byte) (bool, error) {
	if _, err := w.skipSpace(); err != nil {
		return false, err
	}
	return w.pos < len(w.buf) && w.buf[w.pos] == c, nil
}

// next reports whether c comes next after whitespace, and if so takes it.
func (w *window) next(c byte) (bool, error) {
	ok, err := w.peek(c)
	if ok {
		w.pos++
	}
	return ok, err
}

// expect takes c, which must come next after whitespace.
func (w *window) expect(c byte) error {
	if ok, err := w.next(c); ok || err != nil {
		return err
	}
	return w.syntax(fmt.Sprintf("%q", c))
}

func (w *window) syntax(want string) error {
	if w.pos >= len(w.buf) {
		return fmt.Errorf("invalid JSON: expected %s at the end", want)
	}
	return fmt.Errorf("invalid JSON: expected %s at byte %d, found %q", want, w.read+int64(w.pos), w.buf[w.pos])
}

// value takes the JSON value after whitespace, once it is whole in the
// buffer and valid. The slice is good until the next read.
func (w *window) value() ([]byte, error) {
	if more, err := w.skipSpace(); err != nil {
		return nil, err
	} else if !more {
		return nil, io.ErrUnexpectedEOF
	}
	for {
		if end, ok := valueEnd(w.buf, w.pos, w.eof); ok {
			v := w.buf[w.pos:end]
			if err := event.ValidateJSON(v); err != nil {
				return nil, fmt.Errorf("invalid JSON at byte %d: %w", w.read+int64(w.pos), err)
			}
			w.pos = end
			return v, nil
		}
		if err := w.fill(); err != nil {
			return nil, err
		}
	}
}

// firstKey returns the name of the first member of the object at the
// reader's position ("" for an empty object, or one that does not start
// with a name), without taking anything.
func (w *window) firstKey() (string, error) {
	for {
		i := skipSpace(w.buf, w.pos+1)
		if i < len(w.buf) && w.buf[i] != '"' {
			return "", nil
		}
		if i < len(w.buf) {
			if end, ok := valueEnd(w.buf, i, w.eof); ok {
				var key string
				if json.Unmarshal(w.buf[i:end], &key) != nil {
					return "", nil
				}
				return key, nil
			}
		}
		if w.eof {
			return "", nil
		}
		if err := w.fill(); err != nil {
			return "", err
		}
	}
}

// valueEnd returns the end of the JSON value starting at b[i], and
// whether all of it is in b: a number or literal may go on past the end
// of b unless the stream has ended (eof). It only follows strings and
// nesting; whether the value is valid JSON is checked afterwards.
func valueEnd(b []byte, i int, eof bool) (int, bool) {
	switch b[i] {
	case '"':
		for i++; i < len(b); i++ {
			switch b[i] {
			case '\\':
				i++
			case '"':
				return i + 1, true
			}
		}
		return len(b), false
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				end, ok := valueEnd(b, i, eof)
				if !ok {
					return len(b), false
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1, true
				}
			}
		}
		return len(b), false
	}
	end := skipValue(b, i)
	return end, end < len(b) || eof
}
