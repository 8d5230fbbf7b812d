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
// A record the trail selects but cannot place in a file (its account or
// Region cannot be part of a key) is quarantined: left out of the files,
// listed under store.PrefixQuarantine and counted in the trail's status in
// the same synced commit that makes the batch pending (or, for a batch
// left pending by a version without quarantine, in a synced commit of its
// own before its first file), so that it is counted once however often
// the batch is replayed. Whether a record is placeable is a function of
// the record and of the trail's name, home Region and organization as the
// pending batch keeps them (a replay never changes these, only the bucket,
// prefix and topic), and of nothing else: a replay leaves out the same
// records, and so still rebuilds the same keys and bytes. One bad record
// therefore costs its own delivery, never its trail's.
//
// It owns the state under store.PrefixDeliver and store.PrefixQuarantine
// and must not change trails.
package delivery
