package main

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
)

// The dynamic client (JSON) on Leases, the shard leader election lives in.

var leases = schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}

const dynName = "gc-dyn"

func (s *suite) dynLeases() dynamic.ResourceInterface {
	return s.dynamic.Resource(leases).Namespace(s.namespace)
}

func holder(obj *unstructured.Unstructured) string {
	value, _, _ := unstructured.NestedString(obj.Object, "spec", "holderIdentity")
	return value
}

func (s *suite) dynamicCreateGet(ctx context.Context) (string, error) {
	lease := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "coordination.k8s.io/v1",
		"kind":       "Lease",
		"metadata":   map[string]any{"name": dynName, "labels": map[string]any{suiteLabel: "1"}},
		"spec":       map[string]any{"holderIdentity": "h0"},
	}}
	if _, err := s.dynLeases().Create(ctx, lease, metav1.CreateOptions{}); err != nil {
		return "", err
	}
	got, err := s.dynLeases().Get(ctx, dynName, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	return "created and read", want(holder(got) == "h0", "holderIdentity %q", holder(got))
}

func (s *suite) dynamicSetHolder(ctx context.Context, value string) (*unstructured.Unstructured, error) {
	var updated *unstructured.Unstructured
	err := s.write(func() error {
		current, err := s.dynLeases().Get(ctx, dynName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if err := unstructured.SetNestedField(current.Object, value, "spec", "holderIdentity"); err != nil {
			return err
		}
		updated, err = s.dynLeases().Update(ctx, current, metav1.UpdateOptions{})
		return err
	})
	return updated, err
}

func (s *suite) dynamicUpdateFresh(ctx context.Context) (string, error) {
	updated, err := s.dynamicSetHolder(ctx, "h1")
	if err != nil {
		return "", err
	}
	return "updated", want(holder(updated) == "h1", "holderIdentity %q", holder(updated))
}

func (s *suite) dynamicUpdateStale(ctx context.Context) (string, error) {
	old, err := s.dynLeases().Get(ctx, dynName, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	if _, err := s.dynamicSetHolder(ctx, "h2"); err != nil {
		return "", fmt.Errorf("the update that makes the read stale: %w", err)
	}
	_ = unstructured.SetNestedField(old.Object, "stale", "spec", "holderIdentity")
	_, err = s.dynLeases().Update(ctx, old, metav1.UpdateOptions{})
	return "409 as expected", expectConflict(err)
}

func (s *suite) dynamicPatchMerge(ctx context.Context) (string, error) {
	got, err := s.dynLeases().Patch(ctx, dynName, types.MergePatchType, []byte(`{"spec":{"leaseDurationSeconds":30}}`), metav1.PatchOptions{})
	if err != nil {
		return "", err
	}
	seconds, _, _ := unstructured.NestedInt64(got.Object, "spec", "leaseDurationSeconds")
	return "patched", want(seconds == 30 && holder(got) == "h2", "leaseDurationSeconds %d, holderIdentity %q", seconds, holder(got))
}

func (s *suite) dynamicList(ctx context.Context) (string, error) {
	list, err := s.dynLeases().List(ctx, metav1.ListOptions{LabelSelector: suiteLabel + "=1"})
	if err != nil {
		return "", err
	}
	var names []string
	for _, item := range list.Items {
		names = append(names, item.GetName())
	}
	return "listed", want(len(names) == 1 && names[0] == dynName && list.GetResourceVersion() != "", "names %v, list RV %q", names, list.GetResourceVersion())
}

func (s *suite) dynamicDeleteUID(ctx context.Context) (string, error) {
	wrong := types.UID("00000000-0000-0000-0000-000000000000")
	err := s.dynLeases().Delete(ctx, dynName, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &wrong}})
	if err := expectConflict(err); err != nil {
		return "", fmt.Errorf("wrong uid: %w", err)
	}
	current, err := s.dynLeases().Get(ctx, dynName, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	uid := current.GetUID()
	if err := s.dynLeases().Delete(ctx, dynName, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}); err != nil {
		return "", fmt.Errorf("current uid: %w", err)
	}
	if _, err := s.dynLeases().Get(ctx, dynName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		return "", fmt.Errorf("after delete: want 404, got %v", err)
	}
	return "409 with a wrong uid, deleted with the current one", nil
}
