package runcontract

// Kubernetes' own names on a run's Job and Pod.
const (
	// LabelJobName is the label the Job controller puts on each Pod of a Job: the Job's
	// name. The runner Pod gets it as EnvRunJob through the downward API.
	LabelJobName = "batch.kubernetes.io/job-name"
	// AnnotationInstantiate with value InstantiateManual is how kubectl marks a Job it made
	// from a CronJob (`kubectl create job --from=cronjob/<name>`).
	AnnotationInstantiate = "cronjob.kubernetes.io/instantiate"
	// InstantiateManual is AnnotationInstantiate's value on a Job made by hand.
	InstantiateManual = "manual"
)

// JobTrigger is the trigger of a run, from its Job's annotations and the trigger its Pod
// template names (EnvTrigger): a Job made by hand from the CronJob is Manual, though it
// copied the CronJob's template, which says Scheduled; any other Job runs as its template
// says. The controller (status.activeRun, a record for a dead runner) and the runner (its
// own record) decide it with this one rule.
func JobTrigger(jobAnnotations map[string]string, templateTrigger string) string {
	if jobAnnotations[AnnotationInstantiate] == InstantiateManual {
		return TriggerManual
	}
	return templateTrigger
}
