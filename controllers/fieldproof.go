package controllers

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/applyconfigurations"
	batchac "k8s.io/client-go/applyconfigurations/batch/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/checkpointed/checkpointed/internal/runcontract"
)

// The proof that an object the cache holds as metadata only (a CronJob: its pod template
// was the largest part of the cache) holds what the controller applies. Extract* cannot
// give it: it needs the object's values. Two things the metadata does have give it instead:
//
//   - appliedDigestAnnotation, which the controller sets in every apply to the digest of the
//     rest of the configuration (stampCronJob): it holds the configuration last
//     applied, as long as the controller still owns it;
//   - the field set of the controller's Apply entry in managedFields. Right after an apply
//     it is exactly the field set of the applied configuration; afterwards it can only
//     lose fields: another field manager that changes or removes a field the controller
//     set takes it over or drops it (a field set to the same value is shared and stays).
//
// So the object holds exactly the wanted configuration when the annotation is the wanted
// configuration's digest and the field set is the wanted configuration's field set, as the
// apiserver computes it (appliedFieldSet, from the same schema client-go's apply
// configurations carry). proofDigest folds both into the one digest the cache keeps.

// appliedDigestAnnotation is set by every apply of a CronJob to the digest (digestOf) of
// the configuration without it.
const appliedDigestAnnotation = "sync.checkpointed.io/applied-digest"

// stripFields are the paths the apiserver leaves out of every field manager's set (type
// meta and the metadata the apiserver itself sets).
var stripFields = fieldpath.NewSet(
	fieldpath.MakePathOrDie("apiVersion"),
	fieldpath.MakePathOrDie("kind"),
	fieldpath.MakePathOrDie("metadata"),
	fieldpath.MakePathOrDie("metadata", "name"),
	fieldpath.MakePathOrDie("metadata", "namespace"),
	fieldpath.MakePathOrDie("metadata", "creationTimestamp"),
	fieldpath.MakePathOrDie("metadata", "selfLink"),
	fieldpath.MakePathOrDie("metadata", "uid"),
	fieldpath.MakePathOrDie("metadata", "clusterName"),
	fieldpath.MakePathOrDie("metadata", "generation"),
	fieldpath.MakePathOrDie("metadata", "managedFields"),
	fieldpath.MakePathOrDie("metadata", "resourceVersion"),
)

// typeConverter converts the built-in kinds' objects to structured-merge-diff's typed
// values with client-go's copy of their schema; built once, on first use (warmDigests).
var typeConverter = sync.OnceValue(func() managedfields.TypeConverter {
	return applyconfigurations.NewTypeConverter(clientgoscheme.Scheme)
})

// stampCronJob sets appliedDigestAnnotation on want to the digest of want as it is before,
// and returns want. The apply that sends want records it.
func stampCronJob(want *batchac.CronJobApplyConfiguration) *batchac.CronJobApplyConfiguration {
	return want.WithAnnotations(map[string]string{appliedDigestAnnotation: digestOf(want)})
}

// appliedFieldSet is the set of fields the apiserver records for the controller's field
// manager when it applies want: the fields want sets, without stripFields.
func appliedFieldSet(want appliedConfiguration) (*fieldpath.Set, error) {
	data, err := json.Marshal(want)
	if err != nil {
		return nil, fmt.Errorf("render %T: %w", want, err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("read %T as an object: %w", want, err)
	}
	tv, err := typeConverter().ObjectToTyped(u)
	if err != nil {
		return nil, fmt.Errorf("type %T: %w", want, err)
	}
	set, err := tv.ToFieldSet()
	if err != nil {
		return nil, fmt.Errorf("field set of %T: %w", want, err)
	}
	return set.Difference(stripFields), nil
}

// ownedFieldSet is the field set of the controller's Apply entry in obj's managedFields;
// false when there is none or it cannot be read.
func ownedFieldSet(obj client.Object) (*fieldpath.Set, bool) {
	for _, e := range obj.GetManagedFields() {
		if e.Manager != runcontract.ControllerFieldManager || e.Operation != metav1.ManagedFieldsOperationApply ||
			e.Subresource != "" || e.FieldsV1 == nil {
			continue
		}
		set := &fieldpath.Set{}
		if err := set.FromJSON(bytes.NewReader(e.FieldsV1.Raw)); err != nil {
			return nil, false
		}
		return set, true
	}
	return nil, false
}

// proofDigest is the digest of an applied digest (appliedDigestAnnotation's value) and a
// field set; "" when either is missing.
func proofDigest(applied string, set *fieldpath.Set) string {
	if applied == "" || set == nil {
		return ""
	}
	js, err := set.ToJSON()
	if err != nil {
		return ""
	}
	h := sha256.New()
	h.Write([]byte(applied))
	h.Write([]byte{0})
	h.Write(js)
	return hex.EncodeToString(h.Sum(nil))
}

// wantedProof is the proofDigest of an object that holds exactly want (stamped by
// stampCronJob); "" when want's field set cannot be computed.
func wantedProof(want *batchac.CronJobApplyConfiguration) string {
	if want.ObjectMetaApplyConfiguration == nil {
		return ""
	}
	set, err := appliedFieldSet(want)
	if err != nil {
		return ""
	}
	return proofDigest(want.Annotations[appliedDigestAnnotation], set)
}

// heldProof is the proofDigest of what obj (with its managedFields) holds.
func heldProof(obj client.Object) string {
	set, ok := ownedFieldSet(obj)
	if !ok {
		return ""
	}
	return proofDigest(obj.GetAnnotations()[appliedDigestAnnotation], set)
}
