package checkpoint

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/checkpointed/checkpointed/internal/runcontract"
)

// ConfigMaps is what a ConfigMapStore needs of the apiserver: get and update the ConfigMaps
// of one namespace. The runner's kubeapi.ConfigMaps satisfies it, and so does client-go's
// typed ConfigMapInterface.
type ConfigMaps interface {
	// Get reads the ConfigMap name.
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.ConfigMap, error)
	// Update replaces cm if its resourceVersion is the stored one (else a Conflict error).
	Update(ctx context.Context, cm *corev1.ConfigMap, opts metav1.UpdateOptions) (*corev1.ConfigMap, error)
}

// ConfigMapStore keeps a SyncJob's checkpoint in the ConfigMap <job>-checkpoint of its
// namespace, key checkpoint.json, as indented JSON. The controller creates the ConfigMap;
// the store only gets and updates it (the runner's RBAC allows nothing else), so a missing
// ConfigMap is an error, and so is a key that is present but does not hold a checkpoint
// (blank, null, {}), while a missing key is a zero runcontract.Checkpoint.
//
// Compare-and-swap: Save updates with the resourceVersion of the last Load or Save, and a
// 409 Conflict becomes a wrapped ErrConflict. A ConfigMapStore is safe for concurrent use.
type ConfigMapStore struct {
	configMaps ConfigMaps
	namespace  string
	job        string

	mu   sync.Mutex
	last *corev1.ConfigMap // as of the last Load or Save; nil before Load
}

// NewConfigMapStore returns the store of the SyncJob job's checkpoint in namespace;
// configMaps are that namespace's ConfigMaps.
func NewConfigMapStore(configMaps ConfigMaps, namespace, job string) *ConfigMapStore {
	return &ConfigMapStore{configMaps: configMaps, namespace: namespace, job: job}
}

// ref names the ConfigMap and key for messages.
func (s *ConfigMapStore) ref() string {
	return fmt.Sprintf("ConfigMap %s/%s key %s", s.namespace, runcontract.CheckpointConfigMapName(s.job), runcontract.CheckpointKey)
}

// Load gets the ConfigMap and decodes the checkpoint. Data that is not a checkpoint is an
// error naming the ConfigMap; it is never silently reset.
func (s *ConfigMapStore) Load(ctx context.Context) (runcontract.Checkpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cm, err := s.configMaps.Get(ctx, runcontract.CheckpointConfigMapName(s.job), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return runcontract.Checkpoint{}, fmt.Errorf("load checkpoint: ConfigMap %s/%s does not exist (the controller creates it with the SyncJob): %w",
			s.namespace, runcontract.CheckpointConfigMapName(s.job), err)
	}
	if err != nil {
		return runcontract.Checkpoint{}, fmt.Errorf("load checkpoint from %s: %w", s.ref(), err)
	}
	st, err := s.decode(cm)
	if err != nil {
		return runcontract.Checkpoint{}, err
	}
	s.last = cm
	return st, nil
}

// Save updates the ConfigMap if it is unchanged since the last Load or Save, and returns a
// wrapped ErrConflict if another writer moved it. Save before Load is an error. An empty
// st.Job is filled with the store's job; another job's name is refused. Other keys and
// the ConfigMap's metadata are kept as loaded.
func (s *ConfigMapStore) Save(ctx context.Context, st runcontract.Checkpoint) error {
	return s.save(ctx, st, nil)
}

// SaveWithRecordLog is Save that also stores log under the key runcontract.RecordLogKey,
// in the same update (one compare-and-swap for both keys).
func (s *ConfigMapStore) SaveWithRecordLog(ctx context.Context, st runcontract.Checkpoint, log runcontract.RecordLog) error {
	return s.save(ctx, st, &log)
}

// LoadRecordLog decodes the record log of the ConfigMap as of the last Load or Save (so
// that it matches the checkpoint loaded), or gets the ConfigMap when nothing was loaded; a
// missing key is a zero runcontract.RecordLog.
func (s *ConfigMapStore) LoadRecordLog(ctx context.Context) (runcontract.RecordLog, error) {
	s.mu.Lock()
	cm := s.last
	s.mu.Unlock()
	if cm == nil {
		var err error
		cm, err = s.configMaps.Get(ctx, runcontract.CheckpointConfigMapName(s.job), metav1.GetOptions{})
		if err != nil {
			return runcontract.RecordLog{}, fmt.Errorf("load record log from ConfigMap %s/%s: %w", s.namespace, runcontract.CheckpointConfigMapName(s.job), err)
		}
	}
	data, ok := cm.Data[runcontract.RecordLogKey]
	if !ok {
		return runcontract.RecordLog{}, nil
	}
	l, err := runcontract.DecodeRecordLog(s.job, []byte(data))
	if err != nil {
		return runcontract.RecordLog{}, fmt.Errorf("ConfigMap %s/%s key %s %w", s.namespace, runcontract.CheckpointConfigMapName(s.job), runcontract.RecordLogKey, err)
	}
	return l, nil
}

func (s *ConfigMapStore) save(ctx context.Context, st runcontract.Checkpoint, log *runcontract.RecordLog) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		return fmt.Errorf("save checkpoint to %s: Load was never called, no resourceVersion to compare against", s.ref())
	}
	data, err := runcontract.EncodeCheckpoint(s.job, st)
	if err != nil {
		return fmt.Errorf("save checkpoint to %s: %w", s.ref(), err)
	}
	cm := s.last.DeepCopy()
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Data[runcontract.CheckpointKey] = string(data)
	if log != nil {
		logData, err := runcontract.EncodeRecordLog(s.job, *log)
		if err != nil {
			return fmt.Errorf("save record log to ConfigMap %s/%s: %w", s.namespace, runcontract.CheckpointConfigMapName(s.job), err)
		}
		cm.Data[runcontract.RecordLogKey] = string(logData)
	}
	updated, err := s.configMaps.Update(ctx, cm, metav1.UpdateOptions{})
	switch {
	case apierrors.IsConflict(err):
		return fmt.Errorf("save checkpoint to %s at resourceVersion %s: %w", s.ref(), cm.ResourceVersion, ErrConflict)
	case apierrors.IsNotFound(err):
		return fmt.Errorf("save checkpoint: ConfigMap %s/%s was deleted since it was loaded: %w",
			s.namespace, runcontract.CheckpointConfigMapName(s.job), ErrConflict)
	case err != nil:
		return fmt.Errorf("save checkpoint to %s: %w", s.ref(), err)
	}
	s.last = updated
	return nil
}

// decode parses the checkpoint key; a missing key is a zero runcontract.Checkpoint
// (nothing stored yet), a present one must hold a checkpoint (blank, null or {} is an
// error).
func (s *ConfigMapStore) decode(cm *corev1.ConfigMap) (runcontract.Checkpoint, error) {
	data, ok := cm.Data[runcontract.CheckpointKey]
	if !ok {
		return runcontract.Checkpoint{}, nil // the controller creates the ConfigMap without the key
	}
	st, err := runcontract.DecodeCheckpoint(s.job, []byte(data))
	if err != nil {
		return runcontract.Checkpoint{}, fmt.Errorf("%s %w (fix it by hand or reset it)", s.ref(), err)
	}
	return st, nil
}
