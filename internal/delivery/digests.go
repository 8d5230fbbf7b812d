package delivery

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/cairn-audit/cairn/internal/digest"
	"github.com/cairn-audit/cairn/internal/trail"
)

// Signer gives the signing key of a Region.
type Signer interface {
	Current(region string, now time.Time) (*digest.SigningKey, error)
}

// chain is one digest chain: a trail's digests of one account and
// Region, each pointing at the one before.
type chain struct {
	Account string    `json:"account"`
	Region  string    `json:"region"`
	Start   time.Time `json:"start"` // digestStartTime of the next digest
	// Files are the log files delivered since Start, not yet in a digest.
	Files []chainFile `json:"files,omitempty"`
	// Prev is the last digest written; nil starts a new chain.
	Prev *prevDigest `json:"prev,omitempty"`
	// Pending is a digest being written: synced before the write, so that
	// a crash replays exactly these bytes.
	Pending *pendingDigest `json:"pending,omitempty"`
	// Final marks a chain whose last digest is written.
	Final bool `json:"final,omitempty"`
}

type chainFile struct {
	digest.LogFile
	Delivered time.Time `json:"delivered"`
}

type prevDigest struct {
	Bucket, Object, Hash, Signature string
}

type pendingDigest struct {
	Bucket, Object string
	Body           []byte // uncompressed
	Signature      string
	End            time.Time
	Final          bool // the chain ends with it
}

func chainKey(account, region string) string { return account + "/" + region }

// recordFiles adds a delivered batch's files to the trail's digest chains.
// Callers hold d.mu; the state is saved with the batch's commit.
func (d *Deliverer) recordFiles(w *work, now time.Time) {
	t := w.b.Trail
	if w.st.Chains == nil {
		w.st.Chains = map[string]*chain{}
	}
	for _, f := range w.files {
		k := chainKey(f.account, f.region)
		c := w.st.Chains[k]
		if c == nil {
			c = &chain{Account: f.account, Region: f.region, Start: now.Truncate(time.Second)}
			w.st.Chains[k] = c
		}
		oldest, newest := digest.FormatTime(f.oldest), digest.FormatTime(f.newest)
		c.Files = append(c.Files, chainFile{Delivered: now, LogFile: digest.LogFile{
			S3Bucket: t.S3BucketName, S3Object: f.key, HashValue: f.body.hash, HashAlgorithm: digest.HashAlgorithm,
			NewestEventTime: &newest, OldestEventTime: &oldest}})
	}
}

// digests writes the digests that are due for a trail: one per interval
// and chain while the trail logs with validation on, and a final one
// when it stops logging or validation is turned off (after its last log
// files are delivered). Every logging trail with validation has a chain
// for its own account in its home Region, so that digests come also in
// hours without log files.
func (d *Deliverer) digests(ctx context.Context, t *trail.Trail) error {
	st := d.stateOf(t.ID)
	now := d.now().UTC()
	d.mu.Lock()
	active := t.IsLogging && t.LogFileValidationEnabled
	if active {
		if st.Chains == nil {
			st.Chains = map[string]*chain{}
		}
		if k := chainKey(t.Account, t.HomeRegion); st.Chains[k] == nil {
			st.Chains[k] = &chain{Account: t.Account, Region: t.HomeRegion, Start: now.Truncate(time.Second)}
		}
	}
	// A stopped trail's chains end once its last batch is delivered; with
	// validation turned off they end at once.
	_, more := t.NextLogged(st.Cursor)
	ending := !active && st.Pending == nil && (t.IsLogging || !more)
	keys := make([]string, 0, len(st.Chains))
	for k := range st.Chains {
		keys = append(keys, k)
	}
	d.mu.Unlock()
	sort.Strings(keys)
	for _, k := range keys {
		d.mu.Lock()
		c := st.Chains[k]
		d.mu.Unlock()
		for {
			if c.Pending == nil {
				end, final, due := d.due(c, active, ending, now)
				if !due {
					break
				}
				if err := d.cutDigest(t, st, c, end, final); err != nil {
					return err
				}
			}
			if !d.writeDigest(ctx, t, st, c) {
				break
			}
			if c.Final {
				d.mu.Lock()
				delete(st.Chains, k)
				d.mu.Unlock()
				if err := d.saveState(t.ID, st); err != nil {
					return err
				}
				break
			}
		}
	}
	return nil
}

// due says whether a chain's next digest is due, and its end: every
// interval while the trail is active, and once more, at once, when the
// chain ends.
func (d *Deliverer) due(c *chain, active, ending bool, now time.Time) (end time.Time, final, due bool) {
	if active {
		end = c.Start.Add(d.cfg.DigestInterval)
		return end, false, !now.Before(end)
	}
	if !ending {
		return time.Time{}, false, false
	}
	end = now.Truncate(time.Second)
	if !end.After(c.Start) {
		end = c.Start.Add(time.Second)
	}
	return end, true, true
}

// cutDigest builds the digest ending at end and stores it as pending.
func (d *Deliverer) cutDigest(t *trail.Trail, st *state, c *chain, end time.Time, final bool) error {
	key, err := d.cfg.Signer.Current(c.Region, d.now())
	if err != nil {
		return fmt.Errorf("signing key: %w", err)
	}
	dg := &digest.Digest{
		AWSAccountID: c.Account, DigestStartTime: digest.FormatTime(c.Start), DigestEndTime: digest.FormatTime(end),
		DigestS3Bucket: t.S3BucketName, DigestS3Object: digest.Key(t.S3KeyPrefix, t.OrganizationID, c.Account, c.Region, t.Name, t.HomeRegion, end),
		DigestPublicKeyFingerprint: key.Fingerprint(), DigestSignatureAlgorithm: digest.SignatureAlgorithm,
	}
	var rest []chainFile
	for _, f := range c.Files {
		if f.Delivered.After(end) {
			rest = append(rest, f)
			continue
		}
		dg.LogFiles = append(dg.LogFiles, f.LogFile)
		if dg.NewestEventTime == nil || *f.NewestEventTime > *dg.NewestEventTime {
			dg.NewestEventTime = f.NewestEventTime
		}
		if dg.OldestEventTime == nil || *f.OldestEventTime < *dg.OldestEventTime {
			dg.OldestEventTime = f.OldestEventTime
		}
	}
	if p := c.Prev; p != nil {
		alg := digest.HashAlgorithm
		dg.PreviousDigestS3Bucket, dg.PreviousDigestS3Object, dg.PreviousDigestHashValue = &p.Bucket, &p.Object, &p.Hash
		dg.PreviousDigestHashAlgorithm, dg.PreviousDigestSignature = &alg, &p.Signature
	}
	body, err := dg.Marshal()
	if err != nil {
		return err
	}
	sig, err := key.Sign(digest.SigningString(dg, body))
	if err != nil {
		return err
	}
	d.mu.Lock()
	c.Pending = &pendingDigest{Bucket: t.S3BucketName, Object: dg.DigestS3Object, Body: body, Signature: sig, End: end, Final: final}
	c.Files = rest
	d.mu.Unlock()
	return d.saveState(t.ID, st)
}

// writeDigest writes a chain's pending digest and, once it is in, moves
// the chain on. It reports success.
func (d *Deliverer) writeDigest(ctx context.Context, t *trail.Trail, st *state, c *chain) bool {
	p := c.Pending
	if p == nil {
		return true
	}
	err := d.putDigest(ctx, t, p)
	d.mu.Lock()
	if err != nil {
		prev := st.Status.LatestDigestDeliveryError
		st.Status.LatestDigestDeliveryError = deliveryError(err)
		d.mu.Unlock()
		d.failures.Add(1)
		if ctx.Err() == nil && deliveryError(err) != prev {
			d.log.Warn("digest delivery failed; will retry", "trail", t.ARN(), "bucket", p.Bucket, "err", err)
		}
		return false
	}
	st.Status.LatestDigestDeliveryError = ""
	st.Status.LatestDigestDeliveryTime = d.now().UTC()
	c.Prev = &prevDigest{Bucket: p.Bucket, Object: p.Object, Hash: digest.Hash(p.Body), Signature: p.Signature}
	c.Start = p.End
	c.Pending = nil
	c.Final = p.Final
	d.mu.Unlock()
	if err := d.saveState(t.ID, st); err != nil {
		d.log.Error("delivery state", "trail", t.ARN(), "err", err)
		return false
	}
	return true
}

func (d *Deliverer) putDigest(ctx context.Context, t *trail.Trail, p *pendingDigest) error {
	if !d.buckets.CanDeliver(p.Bucket, t.Account, t.ARN(), p.Object) {
		return fmt.Errorf("bucket %s refuses %s: %w", p.Bucket, p.Object, errAccessDenied)
	}
	st, err := d.buckets.Store(p.Bucket)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return err
	}
	zw.Write(p.Body)
	if err := zw.Close(); err != nil {
		return err
	}
	o, err := d.putOptions(p.Bucket)
	if err != nil {
		return err
	}
	o.Metadata = map[string]string{"signature": p.Signature, "signature-algorithm": digest.SignatureAlgorithm}
	return st.Put(ctx, p.Bucket, p.Object, buf.Bytes(), o)
}
