package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// One identity per object (issue 20, item 4): what a client keys caches, ownerReferences,
// preconditions and apply ownership on must not change when the object's shard moves and back.

const anchorName = "gc-anchor"

type identity struct {
	UID               string            `json:"uid"`
	CreationTimestamp string            `json:"creationTimestamp"`
	Annotations       map[string]string `json:"annotations"`
	Labels            map[string]string `json:"labels"`
	Managers          string            `json:"managers"`
}

func identityOf(cm *corev1.ConfigMap) identity {
	return identity{
		UID:               string(cm.UID),
		CreationTimestamp: cm.CreationTimestamp.UTC().Format("2006-01-02T15:04:05Z"),
		Annotations:       cm.Annotations,
		Labels:            cm.Labels,
		Managers:          managers(cm.ManagedFields),
	}
}

// The first run creates the anchor and records its identity; every later run compares with it.
func (s *suite) anchorUnchanged(ctx context.Context) (string, error) {
	cms := s.typed.CoreV1().ConfigMaps(s.anchorNamespace)
	recorded, err := os.ReadFile(s.identityFile)
	if errors.Is(err, fs.ErrNotExist) {
		anchor := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: anchorName, Labels: s.labels(nil), Annotations: map[string]string{"go-clients.e2e/anchor": "1"}},
			Data:       map[string]string{"k": "v"},
		}
		created, err := cms.Create(ctx, anchor, metav1.CreateOptions{})
		if err != nil {
			return "", err
		}
		text, _ := json.Marshal(identityOf(created))
		return "recorded " + string(text), os.WriteFile(s.identityFile, text, 0o600)
	}
	if err != nil {
		return "", err
	}
	var before identity
	if err := json.Unmarshal(recorded, &before); err != nil {
		return "", err
	}
	current, err := cms.Get(ctx, anchorName, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	now := identityOf(current)
	var diffs []string
	compare := func(field string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			diffs = append(diffs, fmt.Sprintf("%s %v, recorded %v", field, b, a))
		}
	}
	compare("uid", before.UID, now.UID)
	compare("creationTimestamp", before.CreationTimestamp, now.CreationTimestamp)
	compare("annotations", before.Annotations, now.Annotations)
	compare("labels", before.Labels, now.Labels)
	// Not managedFields: a copy's entries are the synchronizer's, hidden through the bridge, so a moved object
	// shows no field managers until a client writes it (docs/adr/0014, "What still differs").
	if len(diffs) > 0 {
		return "", errors.New(strings.Join(diffs, "; "))
	}
	return "same uid, creationTimestamp, annotations, labels, field managers", nil
}

type inspected struct {
	kind, name  string
	annotations map[string]string
	managed     []metav1.ManagedFieldsEntry
}

// Nothing the suite wrote shows the bridge's annotations or field managers it did not use itself.
func (s *suite) noBridgeMarks(ctx context.Context) (string, error) {
	var objects []inspected
	selector := metav1.ListOptions{LabelSelector: suiteLabel + "=1"}
	for _, namespace := range []string{s.namespace, s.anchorNamespace} {
		cms, err := s.typed.CoreV1().ConfigMaps(namespace).List(ctx, selector)
		if err != nil {
			return "", err
		}
		for _, cm := range cms.Items {
			objects = append(objects, inspected{"configmap", cm.Name, cm.Annotations, cm.ManagedFields})
		}
	}
	secrets, err := s.typed.CoreV1().Secrets(s.namespace).List(ctx, selector)
	if err != nil {
		return "", err
	}
	for _, secret := range secrets.Items {
		objects = append(objects, inspected{"secret", secret.Name, secret.Annotations, secret.ManagedFields})
	}
	leases, err := s.typed.CoordinationV1().Leases(s.namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	for _, lease := range leases.Items {
		objects = append(objects, inspected{"lease", lease.Name, lease.Annotations, lease.ManagedFields})
	}
	var marks []string
	for _, o := range objects {
		for key := range o.annotations {
			if strings.Contains(key, "cluster-bridge.io/") {
				marks = append(marks, fmt.Sprintf("%s/%s annotation %s", o.kind, o.name, key))
			}
		}
		for _, entry := range o.managed {
			if !suiteManagers[entry.Manager] {
				marks = append(marks, fmt.Sprintf("%s/%s field manager %q (%s)", o.kind, o.name, entry.Manager, entry.Operation))
			}
		}
	}
	if len(objects) == 0 {
		return "", fmt.Errorf("found no objects to inspect")
	}
	if len(marks) > 0 {
		return "", errors.New(strings.Join(marks, "; "))
	}
	return fmt.Sprintf("%d objects clean", len(objects)), nil
}
