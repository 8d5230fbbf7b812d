// Package delivery writes trails' log files: it is the ledger consumer
// that turns the events each logging trail selects into gzipped
// {"Records":[...]} files in the trail's bucket, in CloudTrail's key
// layout, and announces them on the trail's topic.
//
// Delivery is exactly once. For each trail it keeps a cursor (the last
// ledger entry it has dealt with) and, while files are being written, a
// pending batch: the ledger range, the delivery time and the trail's
// configuration as they were when the batch was cut. The pending batch is
// synced before the first file is written, and the cursor moves past the
// range only after every file of the batch is durably in the bucket. A
// batch that was interrupted, by a crash or a failing bucket, is rebuilt
// from the same range with the same configuration, which yields the same
// keys and the same bytes: a replay overwrites, it never adds.
//
// It owns the state under store.PrefixDeliver and must not change trails.
package delivery
