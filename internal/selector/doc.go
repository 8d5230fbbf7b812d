// Package selector owns CloudTrail's event selectors: the basic
// EventSelector, the AdvancedEventSelector, and the InsightSelector, as
// PutEventSelectors, PutInsightSelectors and CreateEventDataStore take them
// and GetEventSelectors returns them.
//
// It does three things with them, all pure:
//
//   - Validate: the rules AWS documents for InvalidEventSelectorsException
//     and InvalidInsightSelectorsException, with the message the API layer
//     returns. Where AWS's message text is known it is used verbatim.
//   - Echo: the types carry CloudTrail's wire names, so a request decodes
//     straight into them and Normalize gives back what GetEventSelectors
//     shows, defaults filled in.
//   - Match: Compile turns a trail's or event data store's selectors into a
//     Matcher that decides, per event, whether it is logged.
//
// Matching sees an event through the small Event struct, not a parsed
// record: most selectors need only the category, readOnly, eventSource and
// eventName that the ingest envelope already holds, and NeedsDetail tells
// the caller when FillDetail must parse the record for more.
//
// The package does no I/O, keeps no state and logs nothing. It does not
// know trails, stores or Regions; which selectors apply where, and the
// error code wrapped around a message, belong to the API layer.
package selector
