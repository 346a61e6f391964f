package v1alpha1

// KeySpec defines the external key that makes writes idempotent.
type KeySpec struct {
	// Field of the sink that holds the external key (a column with a unique index, or the API's external-ID field), for example "billing_invoice_id".
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Field string `json:"field"`
	// Expr is a CEL expression over `record` that yields the key as a string. Defaults to `"<source name>:" + string(record.id)`.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Expr string `json:"expr,omitempty"`
}

// FieldType is the type a mapped value must convert to. Nothing is coerced: a value that does not convert is a record error.
// +kubebuilder:validation:Enum=string;int;decimal;bool;timestamp;json
type FieldType string

// Field types.
const (
	FieldString    FieldType = "string"
	FieldInt       FieldType = "int"
	FieldDecimal   FieldType = "decimal"
	FieldBool      FieldType = "bool"
	FieldTimestamp FieldType = "timestamp"
	FieldJSON      FieldType = "json"
)

// FieldMapping maps one sink field from the source record.
// +kubebuilder:validation:XValidation:rule="has(self.from) != has(self.expr)",message="spec.mapping entry must set exactly one of from or expr"
type FieldMapping struct {
	// To is the sink field (column) written.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	To string `json:"to"`
	// From is a dot-separated path into the source record ("customer.id").
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +optional
	From string `json:"from,omitempty"`
	// Expr is a CEL expression over `record` (for example `record.total * 100`).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Expr string `json:"expr,omitempty"`
	// Type the value must convert to. Defaults to string.
	// +kubebuilder:default=string
	// +optional
	Type FieldType `json:"type,omitempty"`
	// Required makes a missing or null value a record error instead of a null write.
	// +optional
	Required bool `json:"required,omitempty"`
	// Lookup writes, instead of the value, the id of the sink object found by it: from or expr (converted to type) gives the value to look up, and the target's id (a string) is written. For example, link an invoice to the CRM account whose billing_customer_id is the invoice's customer_id. A null value writes null without a lookup; a value that finds no object is a record error naming the lookup, never a null link. Results are cached for the run. Only an HTTP sink resolves lookups, with its own credentials and on its own host (a Postgres sink lookup may come later).
	// +optional
	Lookup *MappingLookup `json:"lookup,omitempty"`
}

// MappingLookup finds a sink object by a value, through the sink's API.
type MappingLookup struct {
	// URL is a template holding "{value}" (escaped in place) whose answer lists the objects holding the value, for example "https://crm.example.com/accounts?billing_customer_id={value}". It must be on the scheme and host of the sink's URL. A 404 answer means no object.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.contains('{value}')",message="spec.mapping[].lookup.url must hold {value}"
	URL string `json:"url"`
	// ResultsPath is the dot-separated JSON path of the objects array in the answer ("" = the body itself; an object there is the one result). More than one object is a record error: the link would be a guess. Defaults to results.
	// +kubebuilder:default=results
	// +kubebuilder:validation:MaxLength=256
	// +optional
	ResultsPath string `json:"resultsPath,omitempty"`
	// IDPath is the dot-separated JSON path of an object's id, the value written. Defaults to id.
	// +kubebuilder:default=id
	// +kubebuilder:validation:MaxLength=256
	// +optional
	IDPath string `json:"idPath,omitempty"`
}
