package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

type suiteOptions struct {
	namespace       string
	anchorNamespace string
	identityFile    string
	churn           bool
}

// Every object the suite writes carries it, so the identity check can find them all.
const suiteLabel = "go-clients.e2e/suite"

// The field managers the suite writes with: "go-clients" (from the user agent) for creates and updates.
var suiteManagers = map[string]bool{"go-clients": true, "gc-apply-patch": true, "gc-ssa-a": true, "gc-ssa-b": true}

type result struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

type suite struct {
	*clients
	suiteOptions
}

type check struct {
	name string
	run  func(ctx context.Context) (string, error)
}

func emit(r result) {
	line, _ := json.Marshal(r)
	fmt.Fprintln(os.Stdout, string(line))
}

func runSuite(c *clients, opts suiteOptions) {
	s := &suite{clients: c, suiteOptions: opts}
	checks := []check{
		{"typed/create", s.typedCreate},
		{"typed/get", s.typedGet},
		{"typed/update-fresh-rv", s.typedUpdateFresh},
		{"typed/update-stale-rv", s.typedUpdateStale},
		{"typed/secret-update", s.typedSecretUpdate},
		{"patch/json", s.patchJSON},
		{"patch/merge", s.patchMerge},
		{"patch/strategic", s.patchStrategic},
		{"patch/apply", s.patchApply},
		{"ssa/apply-two-managers", s.ssaTwoManagers},
		{"ssa/conflict-then-force", s.ssaConflict},
		{"delete/precondition-uid-mismatch", s.deleteUIDMismatch},
		{"delete/precondition-rv-stale", s.deleteRVStale},
		{"delete/preconditions-current", s.deleteCurrent},
		{"list/paginated", s.listPaginated},
		{"watch/resume-from-rv", s.watchResume},
		{"informer/handler-updates", s.informerUpdates},
		{"dynamic/create-get", s.dynamicCreateGet},
		{"dynamic/update-fresh-rv", s.dynamicUpdateFresh},
		{"dynamic/update-stale-rv", s.dynamicUpdateStale},
		{"dynamic/patch-merge", s.dynamicPatchMerge},
		{"dynamic/list", s.dynamicList},
		{"dynamic/delete-precondition-uid", s.dynamicDeleteUID},
		{"leader/elect-and-renew", s.leaderShort},
		{"identity/anchor-unchanged", s.anchorUnchanged},
		{"identity/no-bridge-marks", s.noBridgeMarks},
	}
	for _, ch := range checks {
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		started := time.Now()
		detail, err := ch.run(ctx)
		cancel()
		if err != nil {
			detail = err.Error()
		}
		emit(result{Name: ch.name, OK: err == nil, Detail: fmt.Sprintf("%s (%d ms)", detail, time.Since(started).Milliseconds())})
	}
}

// write runs fn once; while shards move (--churn) a 409 from an RV read before a hand-off is retried
// with a fresh read, as controllers do (retry.RetryOnConflict). A conflict that persists still fails.
func (s *suite) write(fn func() error) error {
	if !s.churn {
		return fn()
	}
	return retry.RetryOnConflict(retry.DefaultBackoff, fn)
}

func (s *suite) labels(extra map[string]string) map[string]string {
	out := map[string]string{suiteLabel: "1"}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

func (s *suite) configMap(name string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.namespace, Labels: s.labels(nil)}, Data: data}
}

// expectConflict is nil for a 409 Conflict and describes anything else.
func expectConflict(err error) error {
	if apierrors.IsConflict(err) {
		return nil
	}
	if err == nil {
		return fmt.Errorf("succeeded; want 409 Conflict")
	}
	return fmt.Errorf("want 409 Conflict, got %d %v", statusCode(err), err)
}

func statusCode(err error) int32 {
	if status, ok := err.(apierrors.APIStatus); ok {
		return status.Status().Code
	}
	return 0
}

func sameData(got, want map[string]string) error {
	if len(got) != len(want) {
		return fmt.Errorf("data %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			return fmt.Errorf("data %v, want %v", got, want)
		}
	}
	return nil
}
