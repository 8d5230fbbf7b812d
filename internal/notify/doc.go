// Package notify owns cairn's notification topics and the sending of the
// notifications CloudTrail publishes after each log file delivery.
//
// A topic stands in for an SNS topic: it has the ARN a trail's SnsTopicName
// resolves to, and a webhook that receives, by HTTP POST, the message SNS
// would carry: {"s3Bucket":"…","s3ObjectKey":["AWSLogs/…json.gz"]}.
//
// The package keeps the topic registry (Topics, persisted under
// store.PrefixTopic), the operations that manage it (Ops), the Guard that
// keeps webhooks off cairn's own host and network, and the Notifier that
// sends with retries. It does not know trails or deliveries: the
// delivery side decides when to notify and records the outcome it is handed
// back (LatestNotificationTime, LatestNotificationError). It must not touch
// keys of other prefixes in the database it is given.
package notify
