package kubectlsyncjob

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/jobstate"
)

// HistoryTable writes status.history as a table, newest first.
func HistoryTable(w io.Writer, sj *syncv1.SyncJob, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tPHASE\tSTARTED\tSUMMARY")
	for _, h := range sj.Status.History {
		started := "-"
		if h.StartTime != nil {
			started = h.StartTime.UTC().Format(time.RFC3339) + " (" + ago(now, h.StartTime.Time) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", h.RunID, h.Phase, started, h.Summary)
	}
	if len(sj.Status.History) == 0 {
		fmt.Fprintln(tw, "(no runs yet)\t\t\t")
	}
	return tw.Flush()
}

// History prints the SyncJob's recent runs.
func (p *Plugin) History(ctx context.Context, name string) error {
	sj, err := p.getSyncJob(ctx, name)
	if err != nil {
		return err
	}
	return HistoryTable(p.Out, sj, p.now())
}

// Logs prints the runner log of the SyncJob's active run, else of its newest run whose Pod
// still exists (Jobs labelled for the SyncJob, newest first).
func (p *Plugin) Logs(ctx context.Context, name string) error {
	jobs, err := p.jobsOf(ctx, name)
	if err != nil {
		return err
	}
	// The active run first, then the newest.
	order := make([]int, 0, len(jobs))
	for i := range jobs {
		if done, _ := jobstate.Finished(&jobs[i]); !done {
			order = append(order, i)
		}
	}
	for i := range jobs {
		if done, _ := jobstate.Finished(&jobs[i]); done {
			order = append(order, i)
		}
	}
	for _, i := range order {
		pod, err := p.newestPod(ctx, jobs[i].Name)
		if err != nil {
			return err
		}
		if pod == nil || pod.Status.Phase == corev1.PodPending {
			continue
		}
		fmt.Fprintf(p.Err, "==> Job %s, Pod %s (%s)\n", jobs[i].Name, pod.Name, pod.Status.Phase)
		return p.copyLog(ctx, pod.Name, p.Out)
	}
	return fmt.Errorf("syncjob %s/%s: no run Pod with a log (Jobs and Pods of finished runs are removed after a while; see kubectl syncjob history %s -n %s)",
		p.Namespace, name, name, p.Namespace)
}

// newestPod is the newest Pod of Job job, nil when there is none.
func (p *Plugin) newestPod(ctx context.Context, job string) (*corev1.Pod, error) {
	pods := &corev1.PodList{}
	if err := p.Client.List(ctx, pods, client.InNamespace(p.Namespace), client.MatchingLabels{"batch.kubernetes.io/job-name": job}); err != nil {
		return nil, fmt.Errorf("list Pods of Job %s: %w", job, err)
	}
	var newest *corev1.Pod
	for i := range pods.Items {
		if newest == nil || newest.CreationTimestamp.Before(&pods.Items[i].CreationTimestamp) {
			newest = &pods.Items[i]
		}
	}
	return newest, nil
}

// copyLog copies the runner container's log of Pod pod to w.
func (p *Plugin) copyLog(ctx context.Context, pod string, w io.Writer) error {
	rc, err := p.Clientset.CoreV1().Pods(p.Namespace).GetLogs(pod, &corev1.PodLogOptions{Container: "runner"}).Stream(ctx)
	if err != nil {
		return fmt.Errorf("log of Pod %s: %w", pod, err)
	}
	defer rc.Close()
	if _, err := io.Copy(w, rc); err != nil {
		return fmt.Errorf("log of Pod %s: %w", pod, err)
	}
	return nil
}
