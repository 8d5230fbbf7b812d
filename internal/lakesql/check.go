package lakesql

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"
)

// Check parses a rewritten query with DuckDB's own parser and walks its
// tree: one SELECT (or set operation) that reads only the given tables
// and the query's own CTEs, calls no table function and no function that
// reaches outside. It is the second line behind Rewrite's token checks.
//
// It also returns the result's column names as Lake gives them: an
// alias, or a column's name as written, or _col0, _col1... for other
// expressions; nil when the select list has a * (DuckDB's names stand).
func Check(ctx context.Context, conn *sql.Conn, rewritten string, tables []string) ([]string, error) {
	var doc string
	if err := conn.QueryRowContext(ctx, `SELECT CAST(json_serialize_sql(CAST(? AS VARCHAR)) AS VARCHAR)`, rewritten).Scan(&doc); err != nil {
		return nil, err
	}
	var tree struct {
		Error        bool   `json:"error"`
		ErrorType    string `json:"error_type"`
		ErrorMessage string `json:"error_message"`
		Statements   []struct {
			Node map[string]any `json:"node"`
		} `json:"statements"`
	}
	if err := json.Unmarshal([]byte(doc), &tree); err != nil {
		return nil, err
	}
	if tree.Error {
		if tree.ErrorType == "parser" {
			return nil, invalidf("The query statement has a syntax error: %s", tree.ErrorMessage)
		}
		return nil, invalidf("Only SELECT statements are supported.")
	}
	if len(tree.Statements) != 1 {
		return nil, invalidf("The query statement must be a single SELECT statement.")
	}
	allowed := map[string]bool{}
	for _, t := range tables {
		allowed[FoldName(t)] = true
	}
	if err := walk(tree.Statements[0].Node, allowed, nil); err != nil {
		return nil, err
	}
	return columnNames(tree.Statements[0].Node), nil
}

// columnNames names the columns of a query node's result.
func columnNames(node map[string]any) []string {
	// A set operation takes its names from its first query: "left" in
	// DuckDB's older serialization, children[0] in the newer.
	for node["type"] == "SET_OPERATION_NODE" {
		left, ok := node["left"].(map[string]any)
		if !ok {
			if children, _ := node["children"].([]any); len(children) > 0 {
				left, ok = children[0].(map[string]any)
			}
		}
		if !ok {
			return nil
		}
		node = left
	}
	list, ok := node["select_list"].([]any)
	if !ok {
		return nil
	}
	names := make([]string, len(list))
	for i, e := range list {
		m, _ := e.(map[string]any)
		if m == nil || m["class"] == "STAR" {
			return nil
		}
		if a, _ := m["alias"].(string); a != "" {
			names[i] = a
			continue
		}
		if m["class"] == "COLUMN_REF" {
			if cols, ok := m["column_names"].([]any); ok && len(cols) > 0 {
				if n, ok := cols[len(cols)-1].(string); ok {
					names[i] = n
					continue
				}
			}
		}
		names[i] = "_col" + strconv.Itoa(i)
	}
	return names
}

// refusedRefs are the table references that read something other than a
// table by name: table functions, and SHOW/DESCRIBE, which list the
// catalog.
var refusedRefs = map[string]bool{"TABLE_FUNCTION": true, "SHOW_REF": true, "COLUMN_DATA": true, "DELIM_GET": true}

// walk checks a parsed query. ctes are the CTE names in scope: DuckDB
// reads a name that no enclosing WITH defines before its use (a CTE's own
// name in its own body, a later CTE's name, a CTE of a sibling subquery)
// as the table of that name.
func walk(v any, allowed, ctes map[string]bool) error {
	switch x := v.(type) {
	case map[string]any:
		typ, _ := x["type"].(string)
		if refusedRefs[typ] {
			name := "This table reference"
			if f, ok := x["function"].(map[string]any); ok {
				if n, ok := f["function_name"].(string); ok {
					name = "The function " + n
				}
			}
			return invalidf("%s is not supported: a query reads event data stores only.", name)
		}
		if a, _ := x["alias"].(string); !asciiOnly(a) {
			return invalidf("The alias %q is not supported: identifiers are ASCII.", a)
		}
		if typ == "BASE_TABLE" {
			name, _ := x["table_name"].(string)
			schema, _ := x["schema_name"].(string)
			catalog, _ := x["catalog_name"].(string)
			// A name that is not plain is a file (a string FROM) or a
			// name DuckDB and Go would fold apart; neither is a store.
			if !plainName(name) {
				return invalidf("The query reads %q, which is not an event data store: a query reads event data stores by ID.", name)
			}
			n := FoldName(name)
			if schema != "" || catalog != "" || !allowed[n] && !ctes[n] {
				return invalidf("The query reads %s, which is not an event data store of this account and Region.", name)
			}
		}
		if x["class"] == "FUNCTION" {
			if n, ok := x["function_name"].(string); ok && (!plainName(n) && !operatorName(n) || deniedFunction(n)) {
				return invalidf("The function %s is not supported.", n)
			}
		}
		// Each CTE sees the ones before it; the query sees them all.
		if cm, ok := x["cte_map"].(map[string]any); ok {
			entries, _ := cm["map"].([]any)
			for _, e := range entries {
				em, _ := e.(map[string]any)
				if err := walk(em["value"], allowed, ctes); err != nil {
					return err
				}
				k, _ := em["key"].(string)
				if !plainName(k) {
					return invalidf("The CTE name %q is not supported: names are ASCII letters, digits and underscores.", k)
				}
				ctes = with(ctes, k)
			}
		}
		for k, c := range x {
			if k == "cte_map" {
				continue
			}
			scope := ctes
			// A recursive CTE reads itself in its recursive term only: in
			// the first term its name is still the table's.
			if n, ok := x["cte_name"].(string); ok && typ == "RECURSIVE_CTE_NODE" && k == "right" {
				if !plainName(n) {
					return invalidf("The CTE name %q is not supported: names are ASCII letters, digits and underscores.", n)
				}
				scope = with(ctes, n)
			}
			if err := walk(c, allowed, scope); err != nil {
				return err
			}
		}
	case []any:
		for _, c := range x {
			if err := walk(c, allowed, ctes); err != nil {
				return err
			}
		}
	}
	return nil
}

// with is a copy of set with name added.
func with(set map[string]bool, name string) map[string]bool {
	out := make(map[string]bool, len(set)+1)
	for k := range set {
		out[k] = true
	}
	out[FoldName(name)] = true
	return out
}
