// Package v1alpha1 holds the SyncJob API, group sync.checkpointed.io, version v1alpha1.
//
// +kubebuilder:object:generate=true
// +groupName=sync.checkpointed.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of the SyncJob API.
	GroupVersion = schema.GroupVersion{Group: "sync.checkpointed.io", Version: "v1alpha1"}

	// SchemeBuilder registers the API's types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the API's types to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
