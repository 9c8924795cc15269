package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// step is one call: Op create|get|update|delete, Kind configmap|lease. RV, when set, is the
// resourceVersion the update presents (instead of the one just read) or the delete's precondition;
// UID the delete's UID precondition; Annotations are set on a ConfigMap update over those read.
type step struct {
	Op, Kind, Namespace, Name, RV, UID, Value string
	Annotations                               map[string]string
}

type stepResult struct {
	RV      string `json:"rv,omitempty"`
	UID     string `json:"uid,omitempty"`
	Code    int32  `json:"code,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// SentAs is the Content-Type of the step's request body, as it left client-go.
	SentAs string `json:"sentAs,omitempty"`
}

// contentTypes records the Content-Type of the last request with a body.
type contentTypes struct {
	mu   sync.Mutex
	last string
	next http.RoundTripper
}

func (c *contentTypes) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		c.mu.Lock()
		c.last = req.Header.Get("Content-Type")
		c.mu.Unlock()
	}
	return c.next.RoundTrip(req)
}

func (c *contentTypes) take() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	last := c.last
	c.last = ""
	return last
}

func runSteps(kubeconfig string, in io.Reader) ([]stepResult, error) {
	var steps []step
	if err := json.NewDecoder(in).Decode(&steps); err != nil {
		return nil, err
	}
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	recorder := &contentTypes{}
	config.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		recorder.next = rt
		return recorder
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return nil, err
	}
	results := make([]stepResult, 0, len(steps))
	for _, s := range steps {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		meta, err := runStep(ctx, client, s)
		cancel()
		result := stepResult{RV: meta.ResourceVersion, UID: string(meta.UID), SentAs: recorder.take()}
		var status apierrors.APIStatus
		switch {
		case err == nil:
		case errors.As(err, &status):
			result.Code, result.Reason, result.Message = status.Status().Code, string(status.Status().Reason), status.Status().Message
		default:
			return nil, fmt.Errorf("%s %s %s: %w", s.Op, s.Kind, s.Name, err)
		}
		results = append(results, result)
	}
	return results, nil
}

func runStep(ctx context.Context, client kubernetes.Interface, s step) (metav1.ObjectMeta, error) {
	if s.Op == "delete" {
		opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{}}
		if s.RV != "" {
			opts.Preconditions.ResourceVersion = &s.RV
		}
		if s.UID != "" {
			opts.Preconditions.UID = ptr(types.UID(s.UID))
		}
		if s.RV == "" && s.UID == "" {
			opts.Preconditions = nil
		}
		if s.Kind == "lease" {
			return metav1.ObjectMeta{}, client.CoordinationV1().Leases(s.Namespace).Delete(ctx, s.Name, opts)
		}
		return metav1.ObjectMeta{}, client.CoreV1().ConfigMaps(s.Namespace).Delete(ctx, s.Name, opts)
	}
	if s.Kind == "lease" {
		return leaseStep(ctx, client, s)
	}
	configMaps := client.CoreV1().ConfigMaps(s.Namespace)
	var cm *corev1.ConfigMap
	var err error
	switch s.Op {
	case "create":
		cm, err = configMaps.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: s.Name}, Data: map[string]string{"value": s.Value}}, metav1.CreateOptions{})
	case "get":
		cm, err = configMaps.Get(ctx, s.Name, metav1.GetOptions{})
	case "update":
		if cm, err = configMaps.Get(ctx, s.Name, metav1.GetOptions{}); err == nil {
			if s.RV != "" {
				cm.ResourceVersion = s.RV
			}
			cm.Data = map[string]string{"value": s.Value}
			for key, value := range s.Annotations {
				if cm.Annotations == nil {
					cm.Annotations = map[string]string{}
				}
				cm.Annotations[key] = value
			}
			cm, err = configMaps.Update(ctx, cm, metav1.UpdateOptions{})
		}
	default:
		return metav1.ObjectMeta{}, fmt.Errorf("unknown op %q", s.Op)
	}
	if err != nil {
		return metav1.ObjectMeta{}, err
	}
	return cm.ObjectMeta, nil
}

func leaseStep(ctx context.Context, client kubernetes.Interface, s step) (metav1.ObjectMeta, error) {
	leases := client.CoordinationV1().Leases(s.Namespace)
	now := metav1.NewMicroTime(time.Now())
	var lease *coordinationv1.Lease
	var err error
	switch s.Op {
	case "create":
		lease, err = leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: s.Name},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: &s.Value, AcquireTime: &now, RenewTime: &now},
		}, metav1.CreateOptions{})
	case "get":
		lease, err = leases.Get(ctx, s.Name, metav1.GetOptions{})
	case "update":
		// A leader's renewal: the holder writes renewTime on the Lease it just read.
		if lease, err = leases.Get(ctx, s.Name, metav1.GetOptions{}); err == nil {
			if s.RV != "" {
				lease.ResourceVersion = s.RV
			}
			lease.Spec.HolderIdentity, lease.Spec.RenewTime = &s.Value, &now
			lease, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
		}
	default:
		return metav1.ObjectMeta{}, fmt.Errorf("unknown op %q", s.Op)
	}
	if err != nil {
		return metav1.ObjectMeta{}, err
	}
	return lease.ObjectMeta, nil
}
