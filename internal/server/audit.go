package server

import (
	"context"
	"log/slog"

	"github.com/cairn-audit/cairn/internal/event"
	"github.com/cairn-audit/cairn/internal/ledger"
)

// auditor appends the audit records of served calls to the ledger in the
// background, in batches, so that a call does not wait for a second sync.
type auditor struct {
	ledger *ledger.Ledger
	log    *slog.Logger
	queue  chan []byte
	done   chan struct{}
}

func newAuditor(l *ledger.Ledger, log *slog.Logger) *auditor {
	return &auditor{ledger: l, log: log, queue: make(chan []byte, 65536), done: make(chan struct{})}
}

// record queues one record. A full queue blocks the call: audit records are
// not dropped.
func (a *auditor) record(raw []byte) {
	a.queue <- raw
}

// run appends queued records until the queue is closed and drained.
func (a *auditor) run() {
	defer close(a.done)
	batch := make([]ledger.Entry, 0, 256)
	for raw := range a.queue {
		batch = append(batch[:0], a.entry(raw)...)
	more:
		for len(batch) < 1024 {
			select {
			case raw, ok := <-a.queue:
				if !ok {
					break more
				}
				batch = append(batch, a.entry(raw)...)
			default:
				break more
			}
		}
		if len(batch) == 0 {
			continue
		}
		if _, err := a.ledger.Append(context.Background(), batch); err != nil {
			a.log.Error("append audit records", "records", len(batch), "err", err)
		}
	}
}

func (a *auditor) entry(raw []byte) []ledger.Entry {
	// The record is json.Marshal's output, which is strict JSON text
	// (control characters and invalid UTF-8 escaped), so it is not
	// validated a second time on every call's path.
	e, err := event.ParseValidated(raw, event.Defaults{})
	if err != nil {
		a.log.Error("audit record rejected", "err", err)
		return nil
	}
	v, err := e.MarshalBinary()
	if err != nil {
		return nil
	}
	return []ledger.Entry{{Account: e.AccountID, ID: e.EventID, Value: v}}
}

// close stops taking records and waits until the queued ones are written.
func (a *auditor) close() {
	close(a.queue)
	<-a.done
}
