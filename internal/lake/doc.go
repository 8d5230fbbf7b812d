// Package lake is CloudTrail Lake: event data stores and their API, their
// ingestion from the ledger, imports of CloudTrail archives, exports to
// Parquet, queries and sample queries, channels and PutAuditEvents.
//
// # Tenants
//
// Each account's stores are kept in a DuckDB database of the account's
// own (Databases.For): a file, a DuckDB instance, its connections and its
// limits (memory, threads, spill). An organization store is its
// management account's. Everything that reads or writes a store —
// ingestion, imports, PutAuditEvents, queries — goes through the
// database of the store's account, and a query runs on the caller's.
// So a query can name nothing of another account's, whatever the SQL
// front end (package lakesql) lets through: isolation is where the rows
// are, not a check on names. The front end's checks stay, as a second
// line and to keep queries to Lake's dialect.
//
// Account databases reach no file and no network (external access off,
// no allowed directories, configuration locked). The one DuckDB database
// that may write files is the export database, which holds no events,
// runs no user's SQL and may write only the export folder; it is given a
// store's records by Go, from the store's account's database.
//
// The package must not keep one account's rows in another's database,
// and must not run users' SQL anywhere but on their own account's.
package lake
