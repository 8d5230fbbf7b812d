package delivery

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cairn-audit/cairn/internal/digest"
	"github.com/cairn-audit/cairn/internal/event"
	"github.com/cairn-audit/cairn/internal/objstore"
	"github.com/cairn-audit/cairn/internal/store"
)

// A record that a trail selects but that cannot be placed in a log file
// is quarantined: the trail's files are built without it, it is counted
// in the trail's status and listed under store.PrefixQuarantine, and the
// record itself stays in the ledger. Ingest refuses such records, so only
// records that got in before a rule existed, or past a rule that missed
// something, end here; without quarantine one of them would fail its
// trail's batch on every pass, for ever.
//
// Whether a record is placeable depends on the record alone, never on the
// trail, the time or earlier passes: a batch replayed after a crash
// leaves out exactly the records its first attempt left out, and so
// rebuilds the same files.

// unplaceable says why a record cannot be placed in a log file, or "".
// The account and the Region are the parts of a file's key (and of its
// digest chain, whose Region also names a folder of signing keys) that
// come from the record; the record is the file's body.
func unplaceable(e *event.Envelope) string {
	switch {
	case !event.ValidAccountID(e.AccountID):
		return "recipientAccountId is not a 12-digit account ID"
	case !event.ValidRegion(e.Region):
		return "awsRegion is not a Region name"
	case len(e.Raw) < 2 || e.Raw[0] != '{' || e.Raw[len(e.Raw)-1] != '}':
		return "the record is not a JSON object"
	}
	return ""
}

// unfit says why a placeable record still cannot go into the trail of w,
// or "": a trail with log file validation names a digest chain's files
// after the account and Region too, together with its own name and home
// Region, and a long Region may make that name longer than a bucket
// takes. The record is to blame only when the chain of the trail's own
// home Region fits; the name and home Region of a trail never change,
// so the answer is the same for every attempt of a batch. It is asked
// whether or not the trail validates today, as validation may be turned
// on between two attempts.
func (w *work) unfit(e *event.Envelope) string {
	if len(e.Region) <= len(w.t.HomeRegion) {
		return ""
	}
	if w.fits == nil {
		w.fits = map[string]bool{}
	}
	ok, seen := w.fits[e.Region]
	if !seen {
		ok = w.digestFits(e.Region) || !w.digestFits(w.t.HomeRegion)
		w.fits[e.Region] = ok
	}
	if !ok {
		return "awsRegion makes the trail's digest file names longer than a bucket takes"
	}
	return ""
}

// digestFits reports whether the trail's digest files of a Region have
// keys every bucket stores. The prefix is left out: its elements are
// checked with the trail, and with it a key stays far below S3's limit.
func (w *work) digestFits(region string) bool {
	end := time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC)
	return objstore.CheckKey(digest.Key("", w.t.OrganizationID, "000000000000", region, w.t.Name, w.t.HomeRegion, end)) == nil
}

// QuarantinedRecord is one record a trail could not deliver.
type QuarantinedRecord struct {
	TrailARN string `json:"TrailARN"`
	Sequence uint64 `json:"Sequence"` // the record's ledger position
	EventID  string `json:"EventId"`
	// AccountID and Region are as the record gave them, cut to 256 bytes.
	AccountID string `json:"AccountId"`
	Region    string `json:"Region"`
	Reason    string `json:"Reason"`
	// Time is the delivery time of the batch that left the record out.
	Time time.Time `json:"Time"`
}

// maxQuarantineField bounds the record's own values kept beside it.
const maxQuarantineField = 256

func clip(s string) string {
	if len(s) > maxQuarantineField {
		return s[:maxQuarantineField]
	}
	return s
}

// quarantineKey is Q<trail ID>\0<sequence>, so that a trail's records sort
// by ledger position and a trail's range can be dropped with it.
func quarantineKey(trailID string, seq uint64) []byte {
	k := make([]byte, 0, len(trailID)+10)
	k = append(k, store.PrefixQuarantine)
	k = append(k, trailID...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

// quarantineRange bounds the keys of one trail.
func quarantineRange(trailID string) (lo, hi []byte) {
	lo = append(append([]byte{store.PrefixQuarantine}, trailID...), 0)
	hi = append(append([]byte{store.PrefixQuarantine}, trailID...), 1)
	return lo, hi
}

// quarantine notes a record the trail of w selected and cannot place.
func (w *work) quarantine(seq uint64, e *event.Envelope, why string) {
	w.quarantined = append(w.quarantined, QuarantinedRecord{TrailARN: w.t.ARN(), Sequence: seq, EventID: clip(e.EventID),
		AccountID: clip(e.AccountID), Region: clip(e.Region), Reason: why})
}

// setQuarantine adds to b the records of w not already listed, and
// returns how many it added: a replayed batch finds its records listed by
// its first attempt and counts nothing twice.
func (d *Deliverer) setQuarantine(b *pebble.Batch, w *work, at time.Time) (int, error) {
	n := 0
	for _, q := range w.quarantined {
		k := quarantineKey(w.t.ID, q.Sequence)
		_, closer, err := d.db.Get(k)
		if err == nil {
			closer.Close()
			continue
		}
		if !errors.Is(err, pebble.ErrNotFound) {
			return 0, fmt.Errorf("quarantine: %w", err)
		}
		q.Time = at
		v, err := json.Marshal(q)
		if err != nil {
			return 0, err
		}
		if err := b.Set(k, v, nil); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// saveQuarantine lists the records a rebuilt batch left out, if its first
// attempt did not (a batch cut before quarantine existed), synced before
// any of its files is written.
func (d *Deliverer) saveQuarantine(w *work) error {
	if len(w.quarantined) == 0 {
		return nil
	}
	b := d.db.NewBatch()
	defer b.Close()
	n, err := d.setQuarantine(b, w, w.b.Time)
	if err != nil || n == 0 {
		return err
	}
	d.mu.Lock()
	w.st.Status.QuarantinedRecords += uint64(n)
	err = d.setState(b, w.t.ID, w.st)
	d.mu.Unlock()
	if err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("delivery state: %w", err)
	}
	d.quarantinedNow(w, n)
	return nil
}

// quarantinedNow counts and reports records just listed.
func (d *Deliverer) quarantinedNow(w *work, n int) {
	d.quarantined.Add(uint64(n))
	q := w.quarantined[0]
	d.log.Warn("records left out of a trail's log files: they cannot be placed in one; see ListQuarantinedRecords",
		"trail", w.t.ARN(), "records", n, "first_sequence", q.Sequence, "reason", q.Reason)
}

// Quarantined returns the records quarantined for the trails ids accepts,
// in key order, starting after the key after (nil: from the start), at
// most limit of them, and the key to continue after when there are more.
func (d *Deliverer) Quarantined(ids func(trailID string) bool, after []byte, limit int) ([]QuarantinedRecord, []byte, error) {
	lo := []byte{store.PrefixQuarantine}
	if after != nil {
		lo = append(bytes.Clone(after), 0)
	}
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: []byte{store.PrefixQuarantine + 1}})
	if err != nil {
		return nil, nil, err
	}
	defer it.Close()
	var (
		out  []QuarantinedRecord
		last []byte
	)
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		sep := bytes.IndexByte(k, 0)
		if sep < 1 || len(k) != sep+9 || !ids(string(k[1:sep])) {
			continue
		}
		if len(out) == limit {
			return out, last, it.Error()
		}
		var q QuarantinedRecord
		if err := json.Unmarshal(it.Value(), &q); err != nil {
			return nil, nil, fmt.Errorf("quarantined record %x: %w", k, err)
		}
		out = append(out, q)
		last = bytes.Clone(k)
	}
	return out, nil, it.Error()
}

// forgetQuarantine drops the list of a deleted trail.
func (d *Deliverer) forgetQuarantine(trailID string) error {
	lo, hi := quarantineRange(trailID)
	return d.db.DeleteRange(lo, hi, pebble.NoSync)
}

// QuarantinedTotal is how many records this process quarantined, counted
// once per trail.
func (d *Deliverer) QuarantinedTotal() uint64 { return d.quarantined.Load() }
