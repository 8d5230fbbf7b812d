package lake

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/cairn-audit/cairn/internal/awsapi"
	"github.com/cairn-audit/cairn/internal/objstore"
)

// Delivery statuses of a query's results, as CloudTrail names them.
const (
	DeliverySuccess          = "SUCCESS"
	DeliveryFailed           = "FAILED"
	DeliveryPending          = "PENDING"
	DeliveryResourceNotFound = "RESOURCE_NOT_FOUND"
	DeliveryAccessDenied     = "ACCESS_DENIED"
	DeliveryCancelled        = "CANCELLED"

	deliveryTimeout           = 5 * time.Minute
	maxDeliveredFileRawBytes  = 50 << 20
	deliveredFileNameTemplate = "result_%d.csv.gz"
)

// resultCopy is where a copy of a query's results goes (StartQuery's
// DeliveryS3Uri): gzipped CSV files in a bucket of the caller's. It is named
// apart from trail delivery (internal/delivery), which it shares nothing with.
type resultCopy struct {
	uri, bucket, prefix string
	status              string
}

// checkResultCopy reads StartQuery's DeliveryS3Uri: s3://bucket[/prefix]
// of a bucket the caller owns.
func (q *Queries) checkResultCopy(c *awsapi.Call, uri string) (*resultCopy, error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	if !ok || rest == "" {
		return nil, awsapi.Errorf(awsapi.CodeInvalidParameter, "DeliveryS3Uri %q is not an s3://bucket/prefix URI.", uri)
	}
	bucket, prefix, _ := strings.Cut(rest, "/")
	if !objstore.ValidBucketName(bucket) {
		return nil, awsapi.Errorf(awsapi.CodeInvalidS3BucketName, "DeliveryS3Uri %q does not name a valid bucket.", uri)
	}
	if q.Buckets == nil {
		return nil, awsapi.Errorf(awsapi.CodeS3BucketDoesNotExist, "S3 bucket %s does not exist.", bucket)
	}
	owner, ok := q.Buckets.Owner(bucket)
	if !ok {
		return nil, awsapi.Errorf(awsapi.CodeS3BucketDoesNotExist, "S3 bucket %s does not exist.", bucket)
	}
	if owner != c.AccountID {
		return nil, awsapi.Errorf(awsapi.CodeInsufficientS3BucketPolicy, "The bucket policy of %s does not let CloudTrail Lake write query results for account %s.", bucket, c.AccountID)
	}
	return &resultCopy{uri: uri, bucket: bucket, prefix: strings.Trim(prefix, "/"), status: DeliveryPending}, nil
}

// resultFolder is where the results of a query made at created go under
// prefix: AWSLogs/<account>/CloudTrail-Lake/Query/<yyyy>/<mm>/<dd>/<query ID>/.
func resultFolder(prefix, account, queryID string, created time.Time) string {
	return path.Join(prefix, "AWSLogs", account, "CloudTrail-Lake", "Query", created.UTC().Format("2006/01/02"), queryID) + "/"
}

// deliver writes a finished query's results to its bucket as gzipped CSV
// files (a header line, then the rows; NULL as an empty field), each at
// most 50 MB before compression, and returns the delivery status.
func (q *Queries) copyResults(r *query, cols []string) string {
	d := r.copyTo
	st, err := q.Buckets.Store(d.bucket)
	if err != nil {
		return DeliveryResourceNotFound
	}
	ctx, cancel := context.WithTimeout(context.Background(), deliveryTimeout)
	defer cancel()
	folder := resultFolder(d.prefix, r.Account, r.ID, r.Created)
	var raw bytes.Buffer
	w := csv.NewWriter(&raw)
	n := 0
	flush := func() error {
		w.Flush()
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(raw.Bytes())
		zw.Close()
		n++
		raw.Reset()
		return st.Put(ctx, d.bucket, folder+fmt.Sprintf(deliveredFileNameTemplate, n), gz.Bytes(), objstore.PutOptions{ContentType: "application/x-gzip"})
	}
	w.Write(cols)
	fields := make([]string, len(cols))
	r.mu.Lock()
	dir, total := r.resDir, r.total
	r.mu.Unlock()
	err = eachResultPage(dir, total, func(rows [][]*string) error {
		for _, row := range rows {
			for i := range fields {
				fields[i] = ""
				if i < len(row) && row[i] != nil {
					fields[i] = *row[i]
				}
			}
			w.Write(fields)
			if raw.Len() >= maxDeliveredFileRawBytes {
				if err := flush(); err != nil {
					return err
				}
				w.Write(cols)
			}
		}
		return nil
	})
	if err != nil {
		return resultCopyFailure(err)
	}
	if err := flush(); err != nil {
		return resultCopyFailure(err)
	}
	return DeliverySuccess
}

func resultCopyFailure(err error) string {
	if errors.Is(err, objstore.ErrNoSuchBucket) || errors.Is(err, objstore.ErrNotFound) {
		return DeliveryResourceNotFound
	}
	return DeliveryFailed
}
