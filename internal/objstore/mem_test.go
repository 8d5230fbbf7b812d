package objstore_test

import (
	"errors"
	"testing"

	"github.com/cairn-audit/cairn/internal/objstore"
	"github.com/cairn-audit/cairn/internal/objstore/objstoretest"
)

func TestMemContract(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Store { return objstore.NewMem() })
}

func TestMemFailure(t *testing.T) {
	ctx := t.Context()
	m := objstore.NewMem()
	if err := m.CreateBucket(ctx, "logs", false); err != nil {
		t.Fatal(err)
	}
	if err := m.Put(ctx, "logs", "a", []byte("1"), objstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	outage := errors.New("bucket down")
	m.SetFailure(outage)
	if err := m.Put(ctx, "logs", "b", []byte("2"), objstore.PutOptions{}); !errors.Is(err, outage) {
		t.Errorf("Put during outage: %v", err)
	}
	if _, err := m.Get(ctx, "logs", "a"); !errors.Is(err, outage) {
		t.Errorf("Get during outage: %v", err)
	}
	if _, err := m.List(ctx, "logs", "", "", 0); !errors.Is(err, outage) {
		t.Errorf("List during outage: %v", err)
	}
	if _, err := m.BucketExists(ctx, "logs"); !errors.Is(err, outage) {
		t.Errorf("BucketExists during outage: %v", err)
	}
	if m.Puts() != 1 {
		t.Errorf("Puts() = %d, want 1: a failed Put is not counted", m.Puts())
	}
	m.SetFailure(nil)
	if err := m.Put(ctx, "logs", "b", []byte("2"), objstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if m.Puts() != 2 {
		t.Errorf("Puts() = %d, want 2", m.Puts())
	}
}
