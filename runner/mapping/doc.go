// Package mapping turns a source record into the record written to the sink, following a
// SyncJob's spec.mapping and spec.key. A Mapping is compiled once per run (New), before
// anything is read: a bad expression, an unknown type, an entry with both or neither of
// from/expr, or a duplicate target fails there, naming the entry
// ("mapping[2] (to: total_cents): compile expr ...").
//
// # Values
//
// An entry takes its value either from a dot path into the record's fields ("customer.id";
// embedded JSON is walked into, lists are indexed by number, "items.0.sku"; a top-level
// "id" absent from the fields is the record id), or from a CEL expression over `record`.
// A missing path or a null value is null: a record error ("required field missing") when
// the entry is required, a null write otherwise. A path no record can have is refused
// instead: CheckColumns at setup for a source that knows its columns (a table), CheckPage
// before each page for one that does not (a path on none of the page's records).
//
// # Conversions
//
// The value is then converted to the entry's type. Only lossless, unambiguous conversions
// are made; anything else is a record error with reason "not a <type>":
//
//	type       output             accepted input
//	string     string             string; integer (decimal digits); decimal (canonical text)
//	int        int64              integer in range; decimal or numeric string with a zero
//	                              fraction ("12.00"); float64 with no fraction and |f| <= 2^53
//	decimal    connector.Decimal  decimal; numeric string ("-12.30", "+5", "007.50"); integer;
//	                              float64 with no fraction and |f| <= 2^53
//	bool       bool               bool; the strings "true" and "false"
//	timestamp  time.Time (UTC)    time.Time; RFC3339 string ("2026-01-02T03:04:05.123Z")
//	json       connector.JSON     any value, encoded with encoding/json; decimals as JSON
//	                              numbers with their exact text, times as RFC3339 UTC
//	                              strings, connector.JSON as is (must be valid)
//
// Refused, among others: "abc" or "1e3" into decimal, 1.5 into int or decimal, a float64
// with a fraction into anything but json (a float cannot say which decimal was meant:
// have the source deliver a Decimal), bools into string, 0/1 or "yes" into bool, epoch
// numbers or other time formats into timestamp. A decimal is "[+-]digits[.digits]" and
// keeps its scale: "12.30" stays "12.30"; "+007.50" becomes "7.50", "-0.00" becomes
// "0.00". Decimals never pass through float64, in conversions or in expressions. A json
// entry whose value is null writes null (SQL NULL), not the JSON text "null".
//
// # Expressions
//
// Expressions are CEL, the language of Kubernetes validation rules, with the strings
// extension and optional values (record.?discount.orValue(0)). `record` is a
// map(string, dyn) of the record's fields plus "id" (the record id, a string) when the
// fields have none. Field values appear in CEL as: string → string, int64 → int,
// float64 → double, bool → bool, time.Time → timestamp, nil → null, maps and lists as
// maps and lists, connector.Decimal → decimal, connector.JSON → its decoded document
// (integers as int, other numbers as decimal).
//
// decimal is an exact type: decimal("12.30"), decimal(42), string(d), int(d) (fails
// unless integral), -d, and d + x, d - x, d * x, d < x (and <=, >, >=) where x is a
// decimal or an int. The decimal must be the left operand: record.total * 100 works,
// 100 * record.total does not (no such overload), and 100 == record.total is false (CEL
// equality across types); write record.total == 100. There is no division and no
// arithmetic with double. A reference to a missing key (record.nope) or any other
// evaluation error is a record error "expression failed" with CEL's message; guard
// optional fields with has(record.x) or record.?x. A null result is a null value.
//
// # Lookups
//
// An entry with a lookup (spec.mapping[].lookup) writes, instead of its converted value, the
// id of the sink object that value finds: Spec.Resolver (the HTTP sink's) resolves it, and
// caches answers for the run. Lookups run after every entry has converted, so a record
// that fails to map sends none. A null value stays null without a lookup; a value that
// finds nothing is a record error "lookup target not found" ("lookup <url> found
// nothing"), never a null link; a lookup that cannot answer (the API failed after its
// retries, several objects match) is a record error "lookup failed" with the reason — the
// record is retried on the next run like any failed record, and an API that is down
// fails the upserts that follow too. A lookup entry's type must be a scalar; the id is
// written as a string. Map resolves without a caller's context (each lookup has the
// resolver's timeout); MapContext takes one.
//
// # Key
//
// Without Key.Expr the external key is "<Spec.SourceName>:<record id>", the same as the
// expression `"<source name>:" + string(record.id)`. Key.Expr replaces it; it must yield
// a non-empty string, otherwise the record fails with Field set to Key.Field.
//
// # Configuration
//
// Spec, Key and Field are the package's own configuration (types and lookups are the
// connector contract's: connector.FieldType, connector.Lookup); runner/jobconfig
// translates a defaulted SyncJob into them. Nothing is defaulted here: an entry's Type
// must be set (the API defaults it to string).
//
// # Errors
//
// Record problems are *connector.RecordError with ID = the record id, Field = the target
// field (or the key field), Reason = one of the Reason constants and Detail = the
// offending value (truncated) or CEL's message.
package mapping
