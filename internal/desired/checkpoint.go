package desired

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/runcontract"
)

// Annotations on the checkpoint ConfigMap. The ConfigMap is not owned by the SyncJob (it
// outlives it); these say which SyncJob it belongs to and what it is a checkpoint of.
const (
	// AnnotationCheckpointIdentity is CheckpointIdentity of the SyncJob the checkpoint was
	// made for: a SyncJob created again under the same name adopts the ConfigMap only
	// when its identity is the same.
	AnnotationCheckpointIdentity = "sync.checkpointed.io/checkpoint-identity"
	// AnnotationCheckpointOwnerUID is the UID of the SyncJob that uses the checkpoint now.
	AnnotationCheckpointOwnerUID = "sync.checkpointed.io/syncjob-uid"
	// LabelCheckpointArchived, "true", marks a checkpoint set aside because a SyncJob of
	// the same name but another source or sink was created.
	LabelCheckpointArchived = "sync.checkpointed.io/checkpoint-archived"
)

// CheckpointIdentity names what a checkpoint's cursor is a position in: the source (kind,
// the Secret name/key of a DSN and the table, or an HTTP URL's host and path) and the sink
// likewise. It holds no credential (Secret names and keys, never values; no URL query or
// user info), so the controller can compare it without reading a Secret.
func CheckpointIdentity(sj *syncv1.SyncJob) string {
	var src, sink string
	switch s := sj.Spec.Source; {
	case s.Postgres != nil:
		src = "postgres:" + s.Postgres.DSN.Name + "/" + s.Postgres.DSN.Key + ":" + s.Postgres.Table
	case s.HTTP != nil:
		src = "http:" + urlIdentity(s.HTTP.URL)
	}
	switch s := sj.Spec.Sink; {
	case s.Postgres != nil:
		sink = "postgres:" + s.Postgres.DSN.Name + "/" + s.Postgres.DSN.Key + ":" + s.Postgres.Table
	case s.HTTP != nil:
		sink = "http:" + urlIdentity(s.HTTP.URL)
	}
	return "source=" + src + ";sink=" + sink
}

// urlIdentity is a URL's host and path; a URL that does not parse is named by a hash, so
// that nothing it might hold is written into an annotation.
func urlIdentity(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		sum := sha256.Sum256([]byte(raw))
		return "sha256-" + hex.EncodeToString(sum[:8])
	}
	return strings.ToLower(u.Host) + u.EscapedPath()
}

// DeletesCheckpoint reports whether deleting sj should delete its checkpoint too
// (syncv1.DeleteCheckpointOnDeleteAnnotation is "true").
func DeletesCheckpoint(sj *syncv1.SyncJob) bool {
	return sj.Annotations[syncv1.DeleteCheckpointOnDeleteAnnotation] == "true"
}

// CheckpointOwnerReferences are the owner references the checkpoint ConfigMap should have:
// none (it outlives the SyncJob), or the SyncJob's when deleting the SyncJob should delete
// the checkpoint.
func CheckpointOwnerReferences(sj *syncv1.SyncJob) []metav1.OwnerReference {
	if !DeletesCheckpoint(sj) {
		return nil
	}
	return []metav1.OwnerReference{ownerReference(sj)}
}

// CheckpointConfigMap is the empty checkpoint, created once: the controller never applies
// it again, so the runner's data is never overwritten. It carries the SyncJob's label
// (findable after the SyncJob is gone: kubectl get cm -l sync.checkpointed.io/syncjob=<name>),
// its identity and UID, and no owner reference unless the SyncJob asks for its checkpoint
// to be deleted with it.
func CheckpointConfigMap(sj *syncv1.SyncJob) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:      CheckpointName(sj),
			Namespace: sj.Namespace,
			Labels:    labels(sj),
			Annotations: map[string]string{
				AnnotationCheckpointIdentity: CheckpointIdentity(sj),
				AnnotationCheckpointOwnerUID: string(sj.UID),
			},
			OwnerReferences: CheckpointOwnerReferences(sj),
		},
	}
}

// ArchivedCheckpointName is where a checkpoint found under sj's name is kept aside when it
// is not adopted: "<name>-checkpoint-archived-<first 8 characters of its SyncJob's UID>"
// (of its resourceVersion when it names no UID).
func ArchivedCheckpointName(sj *syncv1.SyncJob, old *corev1.ConfigMap) string {
	id := old.Annotations[AnnotationCheckpointOwnerUID]
	if id == "" {
		id = "rv" + old.ResourceVersion
	}
	if len(id) > 8 {
		id = id[:8]
	}
	return fmt.Sprintf("%s-archived-%s", CheckpointName(sj), strings.ToLower(id))
}

// ArchivedCheckpoint is a copy of old (its data and annotations) under
// ArchivedCheckpointName, labelled with the SyncJob's name and LabelCheckpointArchived, owned
// by nothing: it stays until someone deletes it.
func ArchivedCheckpoint(sj *syncv1.SyncJob, old *corev1.ConfigMap) *corev1.ConfigMap {
	ann := map[string]string{}
	for k, v := range old.Annotations {
		ann[k] = v
	}
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:        ArchivedCheckpointName(sj, old),
			Namespace:   sj.Namespace,
			Labels:      map[string]string{runcontract.LabelJob: sj.Name, LabelCheckpointArchived: "true"},
			Annotations: ann,
		},
		Data: old.Data,
	}
}
