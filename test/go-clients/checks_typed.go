package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
)

// The generated clientset: built-in types travel as protobuf (request bodies included).

const cmName = "gc-cm"

func (s *suite) typedCreate(ctx context.Context) (string, error) {
	created, err := s.typed.CoreV1().ConfigMaps(s.namespace).Create(ctx, s.configMap(cmName, map[string]string{"k": "v0"}), metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	if created.UID == "" || created.ResourceVersion == "" {
		return "", fmt.Errorf("created without uid or resourceVersion: %q %q", created.UID, created.ResourceVersion)
	}
	return "created", nil
}

func (s *suite) typedGet(ctx context.Context) (string, error) {
	got, err := s.typed.CoreV1().ConfigMaps(s.namespace).Get(ctx, cmName, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	return "read", sameData(got.Data, map[string]string{"k": "v0"})
}

// The update a controller makes: read, change, write back with the RV it read.
func (s *suite) updateData(ctx context.Context, name, key, value string) (*corev1.ConfigMap, error) {
	cms := s.typed.CoreV1().ConfigMaps(s.namespace)
	var updated *corev1.ConfigMap
	err := s.write(func() error {
		current, err := cms.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if current.Data == nil {
			current.Data = map[string]string{}
		}
		current.Data[key] = value
		updated, err = cms.Update(ctx, current, metav1.UpdateOptions{})
		return err
	})
	return updated, err
}

func (s *suite) typedUpdateFresh(ctx context.Context) (string, error) {
	updated, err := s.updateData(ctx, cmName, "k", "v1")
	if err != nil {
		return "", err
	}
	return "updated", sameData(updated.Data, map[string]string{"k": "v1"})
}

func (s *suite) typedUpdateStale(ctx context.Context) (string, error) {
	cms := s.typed.CoreV1().ConfigMaps(s.namespace)
	old, err := cms.Get(ctx, cmName, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	if _, err := s.updateData(ctx, cmName, "k", "v2"); err != nil {
		return "", fmt.Errorf("the update that makes the read stale: %w", err)
	}
	old.Data["k"] = "stale"
	_, err = cms.Update(ctx, old, metav1.UpdateOptions{})
	return "409 as expected", expectConflict(err)
}

func (s *suite) typedSecretUpdate(ctx context.Context) (string, error) {
	secrets := s.typed.CoreV1().Secrets(s.namespace)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "gc-secret", Labels: s.labels(nil)}, Data: map[string][]byte{"k": []byte("v0")}}
	if _, err := secrets.Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		return "", err
	}
	var updated *corev1.Secret
	err := s.write(func() error {
		current, err := secrets.Get(ctx, "gc-secret", metav1.GetOptions{})
		if err != nil {
			return err
		}
		current.Data["k"] = []byte("v1")
		updated, err = secrets.Update(ctx, current, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return "", err
	}
	if string(updated.Data["k"]) != "v1" {
		return "", fmt.Errorf("secret data %q after update", updated.Data["k"])
	}
	return "created and updated", nil
}

func (s *suite) patch(ctx context.Context, pt types.PatchType, body string, opts metav1.PatchOptions) (*corev1.ConfigMap, error) {
	return s.typed.CoreV1().ConfigMaps(s.namespace).Patch(ctx, cmName, pt, []byte(body), opts)
}

func (s *suite) patchJSON(ctx context.Context) (string, error) {
	got, err := s.patch(ctx, types.JSONPatchType, `[{"op":"add","path":"/data/j","value":"1"}]`, metav1.PatchOptions{})
	if err != nil {
		return "", err
	}
	return "patched", want(got.Data["j"] == "1", "data.j %q", got.Data["j"])
}

func (s *suite) patchMerge(ctx context.Context) (string, error) {
	got, err := s.patch(ctx, types.MergePatchType, `{"data":{"m":"1"}}`, metav1.PatchOptions{})
	if err != nil {
		return "", err
	}
	return "patched", want(got.Data["m"] == "1", "data.m %q", got.Data["m"])
}

func (s *suite) patchStrategic(ctx context.Context) (string, error) {
	got, err := s.patch(ctx, types.StrategicMergePatchType, `{"metadata":{"labels":{"s":"1"}}}`, metav1.PatchOptions{})
	if err != nil {
		return "", err
	}
	return "patched", want(got.Labels["s"] == "1", "labels %v", got.Labels)
}

func (s *suite) patchApply(ctx context.Context) (string, error) {
	body := fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":%q},"data":{"apply":"1"}}`, cmName)
	got, err := s.patch(ctx, types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: "gc-apply-patch"})
	if err != nil {
		return "", err
	}
	if err := want(got.Data["apply"] == "1" && got.Data["k"] == "v2", "data %v", got.Data); err != nil {
		return "", err
	}
	return "applied", want(strings.Contains(managers(got.ManagedFields), "gc-apply-patch:Apply"), "managers %s", managers(got.ManagedFields))
}

// managers lists managedFields entries as manager:operation, sorted.
func managers(entries []metav1.ManagedFieldsEntry) string {
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, fmt.Sprintf("%s:%s", e.Manager, e.Operation))
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func (s *suite) applyData(ctx context.Context, manager string, data map[string]string, force bool) (*corev1.ConfigMap, error) {
	config := corev1ac.ConfigMap("gc-ssa", s.namespace).WithData(data)
	if manager == "gc-ssa-a" {
		config = config.WithLabels(s.labels(nil))
	}
	return s.typed.CoreV1().ConfigMaps(s.namespace).Apply(ctx, config, metav1.ApplyOptions{FieldManager: manager, Force: force})
}

// Server-side apply by two managers of disjoint fields: both own theirs, no one else owns anything.
func (s *suite) ssaTwoManagers(ctx context.Context) (string, error) {
	if _, err := s.applyData(ctx, "gc-ssa-a", map[string]string{"a": "1"}, false); err != nil {
		return "", err
	}
	got, err := s.applyData(ctx, "gc-ssa-b", map[string]string{"b": "1"}, false)
	if err != nil {
		return "", err
	}
	if err := sameData(got.Data, map[string]string{"a": "1", "b": "1"}); err != nil {
		return "", err
	}
	m := managers(got.ManagedFields)
	return m, want(m == "gc-ssa-a:Apply,gc-ssa-b:Apply", "managers %s, want gc-ssa-a:Apply,gc-ssa-b:Apply", m)
}

// Taking a field another manager owns: 409 naming that manager (and only it), then force wins.
func (s *suite) ssaConflict(ctx context.Context) (string, error) {
	_, err := s.applyData(ctx, "gc-ssa-b", map[string]string{"a": "2", "b": "1"}, false)
	if err := expectConflict(err); err != nil {
		return "", err
	}
	if status, ok := err.(apierrors.APIStatus); ok {
		var owners []string
		for _, cause := range status.Status().Details.Causes {
			owners = append(owners, cause.Message)
		}
		joined := strings.Join(owners, "; ")
		if !strings.Contains(joined, `"gc-ssa-a"`) || strings.Count(joined, "conflict with") != 1 {
			return "", fmt.Errorf("conflict causes %q, want one conflict with \"gc-ssa-a\"", joined)
		}
	}
	got, err := s.applyData(ctx, "gc-ssa-b", map[string]string{"a": "2", "b": "1"}, true)
	if err != nil {
		return "", err
	}
	return "409 naming gc-ssa-a, then forced", sameData(got.Data, map[string]string{"a": "2", "b": "1"})
}

func (s *suite) deleteUIDMismatch(ctx context.Context) (string, error) {
	cms := s.typed.CoreV1().ConfigMaps(s.namespace)
	if _, err := cms.Create(ctx, s.configMap("gc-del-uid", map[string]string{"k": "v"}), metav1.CreateOptions{}); err != nil {
		return "", err
	}
	wrong := types.UID("00000000-0000-0000-0000-000000000000")
	err := cms.Delete(ctx, "gc-del-uid", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &wrong}})
	if err := expectConflict(err); err != nil {
		return "", err
	}
	_, err = cms.Get(ctx, "gc-del-uid", metav1.GetOptions{})
	return "409, still there", err
}

func (s *suite) deleteRVStale(ctx context.Context) (string, error) {
	cms := s.typed.CoreV1().ConfigMaps(s.namespace)
	created, err := cms.Create(ctx, s.configMap("gc-del-rv", map[string]string{"k": "v"}), metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	if _, err := s.updateData(ctx, "gc-del-rv", "k", "v2"); err != nil {
		return "", fmt.Errorf("the update that makes the RV stale: %w", err)
	}
	err = cms.Delete(ctx, "gc-del-rv", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &created.ResourceVersion}})
	if err := expectConflict(err); err != nil {
		return "", err
	}
	_, err = cms.Get(ctx, "gc-del-rv", metav1.GetOptions{})
	return "409, still there", err
}

// Deletes with the UID and RV just read: both objects go.
func (s *suite) deleteCurrent(ctx context.Context) (string, error) {
	cms := s.typed.CoreV1().ConfigMaps(s.namespace)
	for _, name := range []string{"gc-del-uid", "gc-del-rv"} {
		err := s.write(func() error {
			current, err := cms.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			return cms.Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &current.UID, ResourceVersion: &current.ResourceVersion}})
		})
		if err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		if _, err := cms.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return "", fmt.Errorf("%s after delete: want 404, got %v", name, err)
		}
	}
	return "deleted", nil
}

func want(ok bool, format string, args ...any) error {
	if ok {
		return nil
	}
	return fmt.Errorf(format, args...)
}
