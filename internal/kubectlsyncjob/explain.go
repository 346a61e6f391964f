package kubectlsyncjob

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/checkpointed/checkpointed/internal/runcontract"
)

// Labels and annotations of an explain Job. It does not carry runcontract.LabelJob: the
// controller treats the Jobs with that label as runs of the SyncJob.
const (
	// LabelExplainFor names the SyncJob an explain Job asks about.
	LabelExplainFor = "sync.checkpointed.io/explain-for"
	// AnnotationExplainID is the source id it asks about.
	AnnotationExplainID = "sync.checkpointed.io/explain-id"
	// explainTTL removes a finished explain Job the plugin could not delete.
	explainTTL = 300
)

// ExplainJob is the one-off Job that answers `explain` for source id of SyncJob job: the
// CronJob's job template (so the same image, ServiceAccount, credentials from Secrets and
// Pod settings) with the runner's args runcontract.ExplainArgs + id, no retries, a deadline
// of timeout, removed ttlSecondsAfterFinished after it ends. suffix makes its name unique.
func ExplainJob(cj *batchv1.CronJob, job, id, suffix string, timeout time.Duration) *batchv1.Job {
	tmpl := cj.Spec.JobTemplate.DeepCopy()
	labels := map[string]string{}
	for k, v := range tmpl.Labels {
		if k != runcontract.LabelJob {
			labels[k] = v
		}
	}
	labels[LabelExplainFor] = job
	annotations := map[string]string{}
	for k, v := range tmpl.Annotations {
		annotations[k] = v
	}
	annotations[AnnotationExplainID] = id
	spec := tmpl.Spec
	spec.BackoffLimit = ptr.To[int32](0)
	spec.TTLSecondsAfterFinished = ptr.To[int32](explainTTL)
	spec.ActiveDeadlineSeconds = ptr.To(max(int64(timeout/time.Second), 1))
	spec.PodFailurePolicy = nil
	podLabels := map[string]string{}
	for k, v := range spec.Template.Labels {
		if k != runcontract.LabelJob {
			podLabels[k] = v
		}
	}
	podLabels[LabelExplainFor] = job
	spec.Template.Labels = podLabels
	for i := range spec.Template.Spec.Containers {
		c := &spec.Template.Spec.Containers[i]
		if c.Name != "runner" {
			continue
		}
		c.Args = append(append([]string{}, runcontract.ExplainArgs...), id)
	}
	return &batchv1.Job{
		TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        fmt.Sprintf("%s-explain-%s", trimName(job, 63-len("-explain-")-len(suffix)), suffix),
			Namespace:   cj.Namespace,
			Labels:      labels,
			Annotations: annotations,
		},
		Spec: spec,
	}
}

func trimName(s string, n int) string {
	if len(s) > n {
		return strings.TrimRight(s[:n], "-.")
	}
	return s
}

func randomSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Explain runs ExplainJob for source id of SyncJob name, waits (up to timeout) for its Pod
// to end, prints the answer (the Pod's output; the runner's own JSON log lines go to
// p.Err) and deletes the Job again, also when the wait is cut short (Ctrl-C, timeout).
// Exit code 0 when the answer was printed.
func (p *Plugin) Explain(ctx context.Context, name, id string, timeout time.Duration) (int, error) {
	sj, err := p.getSyncJob(ctx, name)
	if err != nil {
		return ExitFailed, err
	}
	cjName := sj.Status.CronJobName
	if cjName == "" {
		cjName = runcontract.CronJobName(name)
	}
	cj := &batchv1.CronJob{}
	if err := p.Client.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: cjName}, cj); err != nil {
		return ExitFailed, fmt.Errorf("explain %s: get CronJob %s/%s: %w", id, p.Namespace, cjName, err)
	}
	job := ExplainJob(cj, name, id, randomSuffix(), timeout)
	if err := p.Client.Create(ctx, job); err != nil {
		return ExitFailed, fmt.Errorf("explain %s: create Job %s: %w", id, job.Name, err)
	}
	defer p.deleteJob(job)
	fmt.Fprintf(p.Err, "explain %s: Job %s/%s started\n", id, job.Namespace, job.Name)

	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pod, err := p.waitPodEnd(wctx, job.Name)
	if err != nil {
		return ExitFailed, fmt.Errorf("explain %s: %w", id, err)
	}
	var log bytes.Buffer
	if err := p.copyLog(ctx, pod.Name, &log); err != nil {
		return ExitFailed, fmt.Errorf("explain %s: %w", id, err)
	}
	answer, logs := splitLog(log.Bytes())
	_, _ = p.Err.Write(logs)
	if _, err := p.Out.Write(answer); err != nil {
		return ExitFailed, err
	}
	if pod.Status.Phase != corev1.PodSucceeded || len(answer) == 0 {
		return ExitFailed, fmt.Errorf("explain %s: Pod %s %s without an answer", id, pod.Name, pod.Status.Phase)
	}
	return ExitOK, nil
}

// deleteJob removes the explain Job and its Pod, with a context of its own so that it
// also runs after Ctrl-C.
func (p *Plugin) deleteJob(job *batchv1.Job) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := p.Client.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
		fmt.Fprintf(p.Err, "delete Job %s/%s: %v (it removes itself %d s after it ends)\n", job.Namespace, job.Name, err, explainTTL)
	}
}

// waitPodEnd waits for the Job's Pod to succeed or fail, and fails early on a Pod that
// cannot start (an image that cannot be pulled, a missing Secret).
func (p *Plugin) waitPodEnd(ctx context.Context, job string) (*corev1.Pod, error) {
	for {
		pod, err := p.newestPod(ctx, job)
		if err != nil && ctx.Err() != nil {
			// --timeout ran out during the call: the same answer as between two polls.
			return nil, fmt.Errorf("gave up waiting for Job %s (--timeout): %w", job, ctx.Err())
		}
		if err != nil {
			return nil, err
		}
		if pod != nil {
			switch pod.Status.Phase {
			case corev1.PodSucceeded, corev1.PodFailed:
				return pod, nil
			}
			for _, cs := range pod.Status.ContainerStatuses {
				if w := cs.State.Waiting; w != nil && stuck(w.Reason) {
					return nil, fmt.Errorf("Pod %s cannot start: %s: %s", pod.Name, w.Reason, w.Message)
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("gave up waiting for Job %s (--timeout): %w", job, ctx.Err())
		case <-time.After(p.poll()):
		}
	}
}

func stuck(reason string) bool {
	switch reason {
	case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError":
		return true
	}
	return false
}

// splitLog separates the answer from the runner's JSON log lines in a Pod's log.
func splitLog(b []byte) (answer, logs []byte) {
	var a, l bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var obj map[string]any
		if bytes.HasPrefix(line, []byte("{")) && json.Unmarshal(line, &obj) == nil {
			if _, ok := obj["msg"]; ok {
				l.Write(line)
				l.WriteByte('\n')
				continue
			}
		}
		a.Write(line)
		a.WriteByte('\n')
	}
	return a.Bytes(), l.Bytes()
}
