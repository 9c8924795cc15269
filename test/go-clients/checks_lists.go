package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

const pageObjects = 7

// Pages of 3 with continue tokens. While shards move, a token from an older epoch may expire (410):
// the list starts again, as client-go's pager does; otherwise every page must chain.
func (s *suite) listPaginated(ctx context.Context) (string, error) {
	cms := s.typed.CoreV1().ConfigMaps(s.namespace)
	var want []string
	for i := 0; i < pageObjects; i++ {
		name := fmt.Sprintf("gc-page-%d", i)
		want = append(want, name)
		cm := s.configMap(name, map[string]string{"i": fmt.Sprint(i)})
		cm.Labels["gc-page"] = "1"
		if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			return "", err
		}
	}
	restarts := 0
	for {
		names, pages, err := s.pages(ctx)
		if apierrors.IsResourceExpired(err) && s.churn && restarts < 5 {
			restarts++
			continue
		}
		if err != nil {
			return "", err
		}
		sort.Strings(names)
		if strings.Join(names, ",") != strings.Join(want, ",") || pages != 3 {
			return "", fmt.Errorf("%d pages holding %v, want 3 pages holding %v", pages, names, want)
		}
		return fmt.Sprintf("3 pages, %d restarts after 410", restarts), nil
	}
}

func (s *suite) pages(ctx context.Context) ([]string, int, error) {
	var names []string
	opts := metav1.ListOptions{LabelSelector: "gc-page=1", Limit: 3}
	for pages := 1; ; pages++ {
		list, err := s.typed.CoreV1().ConfigMaps(s.namespace).List(ctx, opts)
		if err != nil {
			return nil, pages, err
		}
		for _, item := range list.Items {
			names = append(names, item.Name)
		}
		if list.Continue == "" {
			return names, pages, nil
		}
		if len(list.Items) != 3 {
			return nil, pages, fmt.Errorf("page %d has %d items and a continue token", pages, len(list.Items))
		}
		opts.Continue = list.Continue
	}
}

type seenEvent struct {
	kind watch.EventType
	name string
	rv   string
}

// collect watches from rv until `until` holds on what it saw; a watch the server ends early is
// resumed from the last event's RV. Returns the events, or a 410 when the RV has expired.
func (s *suite) collect(ctx context.Context, rv string, until func([]seenEvent) bool) ([]seenEvent, error) {
	var events []seenEvent
	for !until(events) {
		w, err := s.typed.CoreV1().ConfigMaps(s.namespace).Watch(ctx, metav1.ListOptions{LabelSelector: "gc-watch=1", ResourceVersion: rv})
		if err != nil {
			return events, err
		}
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error {
				w.Stop()
				return events, apierrors.FromObject(ev.Object)
			}
			cm, ok := ev.Object.(*corev1.ConfigMap)
			if !ok {
				continue
			}
			rv = cm.ResourceVersion
			events = append(events, seenEvent{ev.Type, cm.Name, rv})
			if until(events) {
				break
			}
		}
		w.Stop()
		if ctx.Err() != nil {
			return events, ctx.Err()
		}
	}
	return events, nil
}

func describe(events []seenEvent) string {
	parts := make([]string, len(events))
	for i, e := range events {
		parts[i] = fmt.Sprintf("%s:%s", e.kind, e.name)
	}
	return strings.Join(parts, " ")
}

// A watch from a list's RV sees every change after it, in order; a second watch from the last event's
// RV sees only what came after. While shards move, a 410 is answered by a relist, as informers do.
func (s *suite) watchResume(ctx context.Context) (string, error) {
	cms := s.typed.CoreV1().ConfigMaps(s.namespace)
	list, err := cms.List(ctx, metav1.ListOptions{LabelSelector: "gc-watch=1"})
	if err != nil {
		return "", err
	}
	watched := func(name string) *corev1.ConfigMap {
		cm := s.configMap(name, map[string]string{"k": "v0"})
		cm.Labels["gc-watch"] = "1"
		return cm
	}
	if _, err := cms.Create(ctx, watched("gc-watch-a"), metav1.CreateOptions{}); err != nil {
		return "", err
	}
	if _, err := s.updateData(ctx, "gc-watch-a", "k", "v1"); err != nil {
		return "", err
	}
	if err := cms.Delete(ctx, "gc-watch-a", metav1.DeleteOptions{}); err != nil {
		return "", err
	}
	first, err := s.collect(ctx, list.ResourceVersion, func(e []seenEvent) bool { return len(e) >= 3 })
	if relisted, done := s.relistAfterExpiry(ctx, err, []string{}); done {
		return relisted, nil
	} else if err != nil {
		return "", err
	}
	if describe(first) != "ADDED:gc-watch-a MODIFIED:gc-watch-a DELETED:gc-watch-a" {
		return "", fmt.Errorf("first watch saw %q", describe(first))
	}
	if _, err := cms.Create(ctx, watched("gc-watch-b"), metav1.CreateOptions{}); err != nil {
		return "", err
	}
	second, err := s.collect(ctx, first[2].rv, func(e []seenEvent) bool { return len(e) >= 1 })
	if relisted, done := s.relistAfterExpiry(ctx, err, []string{"gc-watch-b"}); done {
		return relisted, nil
	} else if err != nil {
		return "", err
	}
	if describe(second) != "ADDED:gc-watch-b" {
		return "", fmt.Errorf("resumed watch saw %q", describe(second))
	}
	return "3 events, then 1 after resuming", nil
}

// relistAfterExpiry: with --churn, a 410 is answered by a list that must hold exactly `want`.
func (s *suite) relistAfterExpiry(ctx context.Context, err error, want []string) (string, bool) {
	if !s.churn || !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
		return "", false
	}
	list, lerr := s.typed.CoreV1().ConfigMaps(s.namespace).List(ctx, metav1.ListOptions{LabelSelector: "gc-watch=1"})
	if lerr != nil {
		return "", false
	}
	var names []string
	for _, item := range list.Items {
		names = append(names, item.Name)
	}
	sort.Strings(names)
	return "410, relisted", strings.Join(names, ",") == strings.Join(want, ",")
}

const informerObjects = 5

// A SharedInformer whose handler queues what it sees; a worker marks each object through the lister's
// copy (Update with the cached RV; a 409 is requeued, as controllers do) until the cache shows all marked.
func (s *suite) informerUpdates(ctx context.Context) (string, error) {
	cms := s.typed.CoreV1().ConfigMaps(s.namespace)
	for i := 0; i < informerObjects; i++ {
		cm := s.configMap(fmt.Sprintf("gc-informer-%d", i), map[string]string{"k": "v"})
		cm.Labels["gc-informer"] = "1"
		if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			return "", err
		}
	}
	factory := informers.NewSharedInformerFactoryWithOptions(s.typed, 0, informers.WithNamespace(s.namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = "gc-informer=1" }))
	informer := factory.Core().V1().ConfigMaps()
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	defer queue.ShutDown()
	enqueue := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			queue.Add(key)
		}
	}
	if _, err := informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		return "", err
	}
	stop := make(chan struct{})
	factory.Start(stop)
	// Shutdown waits for the informers, which end only once stop is closed: close it first.
	defer func() { close(stop); factory.Shutdown() }()
	if !cache.WaitForCacheSync(ctx.Done(), informer.Informer().HasSynced) {
		return "", fmt.Errorf("the informer never synced")
	}
	var mu sync.Mutex
	var conflicts, lastErr = 0, error(nil)
	go func() {
		for {
			key, shutdown := queue.Get()
			if shutdown {
				return
			}
			err := s.markSeen(ctx, informer.Lister(), key)
			mu.Lock()
			if err != nil {
				lastErr = err
				if apierrors.IsConflict(err) {
					conflicts++
				}
				queue.AddRateLimited(key)
			} else {
				queue.Forget(key)
			}
			mu.Unlock()
			queue.Done(key)
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	if s.churn {
		deadline = deadline.Add(15 * time.Second)
	}
	for time.Now().Before(deadline) {
		items, _ := informer.Lister().ConfigMaps(s.namespace).List(everything())
		marked := 0
		for _, item := range items {
			if item.Annotations["go-clients.e2e/seen"] == "true" {
				marked++
			}
		}
		if marked == informerObjects {
			mu.Lock()
			defer mu.Unlock()
			return fmt.Sprintf("%d marked, %d conflicts requeued", marked, conflicts), nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	return "", fmt.Errorf("not all marked in time; %d conflicts, last error: %v", conflicts, lastErr)
}

func everything() labels.Selector { return labels.Everything() }

// markSeen is the worker's reconcile: the lister's copy, annotated, written back with its RV.
func (s *suite) markSeen(ctx context.Context, lister corelisters.ConfigMapLister, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	cached, err := lister.ConfigMaps(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil || cached.Annotations["go-clients.e2e/seen"] == "true" {
		return err
	}
	changed := cached.DeepCopy()
	if changed.Annotations == nil {
		changed.Annotations = map[string]string{}
	}
	changed.Annotations["go-clients.e2e/seen"] = "true"
	_, err = s.typed.CoreV1().ConfigMaps(namespace).Update(ctx, changed, metav1.UpdateOptions{})
	return err
}
