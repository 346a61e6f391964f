// Package desired builds the objects the controller owns for a SyncJob, as server-side
// apply configurations: the CronJob that runs the runner, the runner's ServiceAccount,
// Role and RoleBinding, the checkpoint ConfigMap, the run Lease, and the Jobs of operator
// requests (a run, a backfill, a checkpoint reset). The functions are pure: the same
// SyncJob and Options always give the same objects.
package desired

import (
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	batchac "k8s.io/client-go/applyconfigurations/batch/v1"
	coordac "k8s.io/client-go/applyconfigurations/coordination/v1"
	coreac "k8s.io/client-go/applyconfigurations/core/v1"
	metaac "k8s.io/client-go/applyconfigurations/meta/v1"
	rbacac "k8s.io/client-go/applyconfigurations/rbac/v1"
	"k8s.io/utils/ptr"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/runcontract"
)

// Options are the controller-wide settings that shape owned objects.
type Options struct {
	// RunnerImage is used when the SyncJob does not name one.
	RunnerImage string
}

// CronJobName is the name of the SyncJob's CronJob.
func CronJobName(sj *syncv1.SyncJob) string { return runcontract.CronJobName(sj.Name) }

// ServiceAccountName is the name of the runner's ServiceAccount, Role and RoleBinding.
func ServiceAccountName(sj *syncv1.SyncJob) string { return runcontract.ServiceAccountName(sj.Name) }

// CheckpointName is the name of the checkpoint ConfigMap.
func CheckpointName(sj *syncv1.SyncJob) string { return runcontract.CheckpointConfigMapName(sj.Name) }

// LeaseName is the name of the run Lease.
func LeaseName(sj *syncv1.SyncJob) string { return runcontract.LeaseName(sj.Name) }

func ownerRef(sj *syncv1.SyncJob) *metaac.OwnerReferenceApplyConfiguration {
	return metaac.OwnerReference().
		WithAPIVersion(syncv1.GroupVersion.String()).
		WithKind("SyncJob").
		WithName(sj.Name).
		WithUID(sj.UID).
		WithController(true).
		WithBlockOwnerDeletion(true)
}

func labels(sj *syncv1.SyncJob) map[string]string {
	return map[string]string{
		runcontract.LabelJob:          sj.Name,
		runcontract.LabelManagedBy:    runcontract.ManagedBy,
		"app.kubernetes.io/component": "runner",
	}
}

// ServiceAccount is the runner's identity.
func ServiceAccount(sj *syncv1.SyncJob) *coreac.ServiceAccountApplyConfiguration {
	return coreac.ServiceAccount(ServiceAccountName(sj), sj.Namespace).
		WithLabels(labels(sj)).
		WithOwnerReferences(ownerRef(sj))
}

// Role grants the runner exactly what one run needs, each rule limited by resourceNames
// to this SyncJob's own objects: read its SyncJob, patch its status, read and update its
// checkpoint ConfigMap and run Lease, and create Events. It grants nothing on Secrets:
// credentials reach the Pod as environment variables.
//
// One rule cannot name its object: get on Jobs, so that a run reads the Job it runs in
// (runcontract.EnvRunJob) and records Manual for one made with `kubectl create job
// --from=cronjob/...` (runcontract.JobTrigger). A Job made by hand has any name, so
// resourceNames cannot list it; the rule is get only (no list or watch: Jobs cannot be
// enumerated), in this namespace only.
func Role(sj *syncv1.SyncJob) *rbacac.RoleApplyConfiguration {
	return rbacac.Role(ServiceAccountName(sj), sj.Namespace).
		WithLabels(labels(sj)).
		WithOwnerReferences(ownerRef(sj)).
		WithRules(
			rbacac.PolicyRule().WithAPIGroups(syncv1.GroupVersion.Group).WithResources("syncjobs").
				WithResourceNames(sj.Name).WithVerbs("get"),
			rbacac.PolicyRule().WithAPIGroups(syncv1.GroupVersion.Group).WithResources("syncjobs/status").
				WithResourceNames(sj.Name).WithVerbs("get", "patch", "update"),
			rbacac.PolicyRule().WithAPIGroups("").WithResources("configmaps").
				WithResourceNames(CheckpointName(sj)).WithVerbs("get", "update"),
			rbacac.PolicyRule().WithAPIGroups("coordination.k8s.io").WithResources("leases").
				WithResourceNames(LeaseName(sj)).WithVerbs("get", "update"),
			rbacac.PolicyRule().WithAPIGroups("", "events.k8s.io").WithResources("events").
				WithVerbs("create", "patch"),
			rbacac.PolicyRule().WithAPIGroups("batch").WithResources("jobs").WithVerbs("get"),
		)
}

// RoleBinding binds Role to ServiceAccount.
func RoleBinding(sj *syncv1.SyncJob) *rbacac.RoleBindingApplyConfiguration {
	return rbacac.RoleBinding(ServiceAccountName(sj), sj.Namespace).
		WithLabels(labels(sj)).
		WithOwnerReferences(ownerRef(sj)).
		WithRoleRef(rbacac.RoleRef().WithAPIGroup("rbac.authorization.k8s.io").WithKind("Role").WithName(ServiceAccountName(sj))).
		WithSubjects(rbacac.Subject().WithKind("ServiceAccount").WithName(ServiceAccountName(sj)).WithNamespace(sj.Namespace))
}

// Lease is the run lock, created free so that the runner needs no create permission.
func Lease(sj *syncv1.SyncJob) *coordac.LeaseApplyConfiguration {
	return coordac.Lease(LeaseName(sj), sj.Namespace).
		WithLabels(labels(sj)).
		WithOwnerReferences(ownerRef(sj))
}

func ownerReference(sj *syncv1.SyncJob) metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion:         syncv1.GroupVersion.String(),
		Kind:               "SyncJob",
		Name:               sj.Name,
		UID:                sj.UID,
		Controller:         ptr.To(true),
		BlockOwnerDeletion: ptr.To(true),
	}
}

// CronJob runs the runner on the SyncJob's schedule. Runs never overlap
// (concurrencyPolicy Forbid); the runner's lock guards manual runs as well.
func CronJob(sj *syncv1.SyncJob, opts Options) *batchac.CronJobApplyConfiguration {
	spec := batchac.CronJobSpec().
		WithSchedule(sj.Spec.Schedule).
		WithConcurrencyPolicy(batchv1.ForbidConcurrent).
		WithSuspend(ptr.Deref(sj.Spec.Suspend, false)).
		WithJobTemplate(batchac.JobTemplateSpec().
			WithLabels(labels(sj)).
			WithSpec(JobSpec(sj, opts, runcontract.TriggerScheduled)))
	if sj.Spec.TimeZone != nil && *sj.Spec.TimeZone != "" {
		spec.WithTimeZone(*sj.Spec.TimeZone)
	}
	if sj.Spec.StartingDeadlineSeconds != nil {
		spec.WithStartingDeadlineSeconds(*sj.Spec.StartingDeadlineSeconds)
	}
	// The history limits and the pull policy below are defaulted by the API (CRD markers),
	// never here: an unset value is left to Kubernetes.
	if n := sj.Spec.Runner.SuccessfulJobsHistoryLimit; n != nil {
		spec.WithSuccessfulJobsHistoryLimit(*n)
	}
	if n := sj.Spec.Runner.FailedJobsHistoryLimit; n != nil {
		spec.WithFailedJobsHistoryLimit(*n)
	}
	return batchac.CronJob(CronJobName(sj), sj.Namespace).
		WithLabels(labels(sj)).
		WithOwnerReferences(ownerRef(sj)).
		WithSpec(spec)
}

// JobSpec is the spec of one run's Job; trigger tells the runner why it runs
// (Scheduled, Manual, Backfill). The container runs runcontract.SyncArgs.
func JobSpec(sj *syncv1.SyncJob, opts Options, trigger string) *batchac.JobSpecApplyConfiguration {
	return jobSpec(sj, opts, trigger, runcontract.SyncArgs)
}

// jobSpec is the run template with the given trigger and container arguments.
func jobSpec(sj *syncv1.SyncJob, opts Options, trigger string, args []string) *batchac.JobSpecApplyConfiguration {
	r := sj.Spec.Runner
	image := r.Image
	if image == "" {
		image = opts.RunnerImage
	}

	env := []*coreac.EnvVarApplyConfiguration{
		coreac.EnvVar().WithName(runcontract.EnvJobName).WithValue(sj.Name),
		coreac.EnvVar().WithName(runcontract.EnvJobNamespace).WithValue(sj.Namespace),
		coreac.EnvVar().WithName(runcontract.EnvPodName).WithValueFrom(coreac.EnvVarSource().
			WithFieldRef(coreac.ObjectFieldSelector().WithAPIVersion("v1").WithFieldPath("metadata.name"))),
		coreac.EnvVar().WithName(runcontract.EnvTrigger).WithValue(trigger),
		coreac.EnvVar().WithName(runcontract.EnvRunJob).WithValueFrom(coreac.EnvVarSource().
			WithFieldRef(coreac.ObjectFieldSelector().WithAPIVersion("v1").WithFieldPath("metadata.labels['" + runcontract.LabelJobName + "']"))),
	}
	for _, ref := range sj.Spec.SecretRefs() {
		env = append(env, coreac.EnvVar().WithName(runcontract.SecretEnvName(ref.Name, ref.Key)).WithValueFrom(
			coreac.EnvVarSource().WithSecretKeyRef(coreac.SecretKeySelector().WithName(ref.Name).WithKey(ref.Key))))
	}

	container := coreac.Container().
		WithName("runner").
		WithImage(image).
		WithArgs(args...).
		WithTerminationMessagePolicy(corev1.TerminationMessageFallbackToLogsOnError).
		WithSecurityContext(coreac.SecurityContext().
			WithAllowPrivilegeEscalation(false).
			WithReadOnlyRootFilesystem(true).
			WithRunAsNonRoot(true).
			WithCapabilities(coreac.Capabilities().WithDrop("ALL")))
	if r.ImagePullPolicy != "" { // defaulted by the API; unset is left to Kubernetes
		container.WithImagePullPolicy(r.ImagePullPolicy)
	}
	if len(r.Resources.Limits) > 0 || len(r.Resources.Requests) > 0 {
		res := coreac.ResourceRequirements()
		if len(r.Resources.Limits) > 0 {
			res.WithLimits(r.Resources.Limits)
		}
		if len(r.Resources.Requests) > 0 {
			res.WithRequests(r.Resources.Requests)
		}
		container.WithResources(res)
	}

	podLabels := labels(sj)
	podSpec := coreac.PodSpec().
		WithServiceAccountName(ServiceAccountName(sj)).
		WithRestartPolicy(corev1.RestartPolicyNever).
		WithSecurityContext(coreac.PodSecurityContext().
			WithRunAsNonRoot(true).
			WithRunAsUser(runcontract.RunnerUID).
			WithRunAsGroup(runcontract.RunnerUID).
			WithSeccompProfile(coreac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault)))
	tmpl := coreac.PodTemplateSpec()
	if p := r.Pod; p != nil {
		for k, v := range p.Labels {
			if _, ours := podLabels[k]; !ours {
				podLabels[k] = v
			}
		}
		if len(p.Annotations) > 0 {
			tmpl.WithAnnotations(p.Annotations)
		}
		if len(p.NodeSelector) > 0 {
			podSpec.WithNodeSelector(p.NodeSelector)
		}
		for i := range p.Tolerations {
			t := p.Tolerations[i]
			tol := coreac.Toleration().WithKey(t.Key).WithOperator(t.Operator).WithValue(t.Value).WithEffect(t.Effect)
			if t.TolerationSeconds != nil {
				tol.WithTolerationSeconds(*t.TolerationSeconds)
			}
			podSpec.WithTolerations(tol)
		}
		if p.PriorityClassName != "" {
			podSpec.WithPriorityClassName(p.PriorityClassName)
		}
		for i := range p.Env {
			e := p.Env[i]
			ev := coreac.EnvVar().WithName(e.Name)
			if e.ValueFrom == nil {
				ev.WithValue(e.Value)
			} else if s := e.ValueFrom.SecretKeyRef; s != nil {
				ev.WithValueFrom(coreac.EnvVarSource().WithSecretKeyRef(coreac.SecretKeySelector().WithName(s.Name).WithKey(s.Key)))
			} else if c := e.ValueFrom.ConfigMapKeyRef; c != nil {
				ev.WithValueFrom(coreac.EnvVarSource().WithConfigMapKeyRef(coreac.ConfigMapKeySelector().WithName(c.Name).WithKey(c.Key)))
			} else if f := e.ValueFrom.FieldRef; f != nil {
				// apiVersion as the apiserver defaults it, so that the applied fields read back
				// equal (controllers' applyOwned).
				apiVersion := f.APIVersion
				if apiVersion == "" {
					apiVersion = "v1"
				}
				ev.WithValueFrom(coreac.EnvVarSource().WithFieldRef(coreac.ObjectFieldSelector().WithAPIVersion(apiVersion).WithFieldPath(f.FieldPath)))
			}
			env = append(env, ev)
		}
	}
	container.WithEnv(env...)
	podSpec.WithContainers(container)
	tmpl.WithLabels(podLabels).WithSpec(podSpec)

	job := batchac.JobSpec().
		WithBackoffLimit(0).
		WithTemplate(tmpl)
	if r.ActiveDeadlineSeconds != nil {
		job.WithActiveDeadlineSeconds(*r.ActiveDeadlineSeconds)
	}
	return job
}

// Backfill is a requested run over [From, To) that keeps its own progress under Key.
type Backfill struct{ From, To, Key string }

// RequestedJob is the Job of an operator-requested run: the CronJob's run template with
// trigger Manual, or Backfill when backfill is set. Its name is derived from the request
// token, so that creating it twice for one token is impossible.
func RequestedJob(sj *syncv1.SyncJob, opts Options, token string, backfill *Backfill) *batchac.JobApplyConfiguration {
	if backfill == nil {
		return requestedJob(sj, runcontract.KindRun, token, JobSpec(sj, opts, runcontract.TriggerManual))
	}
	spec := JobSpec(sj, opts, runcontract.TriggerBackfill)
	// Backfills resume from their own checkpoint key, so a retried Pod continues.
	spec.WithBackoffLimit(2)
	addEnv(spec,
		coreac.EnvVar().WithName(runcontract.EnvBackfillFrom).WithValue(backfill.From),
		coreac.EnvVar().WithName(runcontract.EnvBackfillTo).WithValue(backfill.To),
		coreac.EnvVar().WithName(runcontract.EnvBackfillKey).WithValue(backfill.Key),
	)
	return requestedJob(sj, runcontract.KindBackfill, token, spec)
}

// ReconcileJob is the Job of a reconcile-requested-at request: the CronJob's run template
// with trigger Manual and runcontract.EnvFullReconcile=true, so that the run ends with a
// full key reconciliation, and the confirm-deletes annotation's token, when set, in
// runcontract.EnvConfirmDeletes. Its name is derived from the request token.
func ReconcileJob(sj *syncv1.SyncJob, opts Options, token string) *batchac.JobApplyConfiguration {
	spec := JobSpec(sj, opts, runcontract.TriggerManual)
	addEnv(spec, coreac.EnvVar().WithName(runcontract.EnvFullReconcile).WithValue("true"))
	if confirm := sj.Annotations[syncv1.ConfirmDeletesAnnotation]; confirm != "" {
		addEnv(spec, coreac.EnvVar().WithName(runcontract.EnvConfirmDeletes).WithValue(confirm))
	}
	return requestedJob(sj, runcontract.KindReconcile, token, spec)
}

// Reset is a requested checkpoint reset.
type Reset struct {
	// To is where the cursor moves: "beginning" or an RFC3339 time, already validated.
	To string
	// ClearFailedKeys also forgets the failed keys waiting for a retry.
	ClearFailedKeys bool
}

// ResetJob is the Job of a checkpoint reset request: the CronJob's run template running
// runcontract.ResetArgs with trigger Reset, the target in runcontract.EnvResetTo, the
// request token in runcontract.EnvRequestToken and, when the failed keys go too,
// runcontract.EnvResetClearFailedKeys=true. The runner takes the run Lease, rewrites the checkpoint and
// records the CheckpointReset Event; a Pod that finds the Lease held fails and is retried
// (backoffLimit 2). Its name is derived from the token, like RequestedJob's.
func ResetJob(sj *syncv1.SyncJob, opts Options, token string, reset Reset) *batchac.JobApplyConfiguration {
	spec := jobSpec(sj, opts, runcontract.TriggerReset, runcontract.ResetArgs)
	// A Lease held by a run is retried; an invalid target (ExitUsage) fails the Job at once.
	spec.WithBackoffLimit(2).WithPodFailurePolicy(batchac.PodFailurePolicy().WithRules(
		batchac.PodFailurePolicyRule().
			WithAction(batchv1.PodFailurePolicyActionFailJob).
			WithOnExitCodes(batchac.PodFailurePolicyOnExitCodesRequirement().
				WithContainerName("runner").
				WithOperator(batchv1.PodFailurePolicyOnExitCodesOpIn).
				WithValues(runcontract.ExitUsage))))
	addEnv(spec,
		coreac.EnvVar().WithName(runcontract.EnvResetTo).WithValue(reset.To),
		coreac.EnvVar().WithName(runcontract.EnvRequestToken).WithValue(token),
	)
	if reset.ClearFailedKeys {
		addEnv(spec, coreac.EnvVar().WithName(runcontract.EnvResetClearFailedKeys).WithValue("true"))
	}
	return requestedJob(sj, runcontract.KindReset, token, spec)
}

// requestedJob wraps spec in the Job named for the request token.
func requestedJob(sj *syncv1.SyncJob, kind runcontract.RequestKind, token string, spec *batchac.JobSpecApplyConfiguration) *batchac.JobApplyConfiguration {
	return batchac.Job(runcontract.RequestedJobName(sj.Name, kind, token), sj.Namespace).
		WithLabels(labels(sj)).
		WithAnnotations(map[string]string{runcontract.AnnotationRequest: token}).
		WithOwnerReferences(ownerRef(sj)).
		WithSpec(spec)
}

// addEnv appends env to the runner container of spec.
func addEnv(spec *batchac.JobSpecApplyConfiguration, env ...*coreac.EnvVarApplyConfiguration) {
	c := spec.Template.Spec.Containers[0]
	c.WithEnv(env...)
	spec.Template.Spec.Containers[0] = c
}

// PreflightJob is the Job of a preflight (`runner plan --in-cluster`, runcontract.PlanArgs,
// trigger Plan) named name: runcontract.PreflightJobName for a spec generation,
// runcontract.RequestedJobName with runcontract.KindPlan for a plan-requested-at token.
// It is labelled runcontract.LabelPreflight with the generation it checks (so that it is
// never taken for a run), is not retried, is bounded by
// runcontract.PreflightDeadlineSeconds and is removed
// runcontract.PreflightTTLSeconds after it finishes.
func PreflightJob(sj *syncv1.SyncJob, opts Options, name string) *batchac.JobApplyConfiguration {
	spec := jobSpec(sj, opts, runcontract.TriggerPlan, runcontract.PlanArgs)
	spec.WithBackoffLimit(0).
		WithActiveDeadlineSeconds(runcontract.PreflightDeadlineSeconds).
		WithTTLSecondsAfterFinished(runcontract.PreflightTTLSeconds)
	gen := strconv.FormatInt(sj.Generation, 10)
	spec.Template.WithLabels(map[string]string{runcontract.LabelPreflight: gen})
	l := labels(sj)
	l[runcontract.LabelPreflight] = gen
	return batchac.Job(name, sj.Namespace).
		WithLabels(l).
		WithOwnerReferences(ownerRef(sj)).
		WithSpec(spec)
}
