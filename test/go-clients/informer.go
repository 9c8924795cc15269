package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// informerLine is one JSON line of `go-clients informer`: a list or watch the reflector made, an event
// of a watch stream as the server sent it, a handler call, or (at the end) the cache.
type informerLine struct {
	Event     string        `json:"event"`
	Stream    int           `json:"stream,omitempty"`
	Type      string        `json:"type,omitempty"`
	Namespace string        `json:"namespace,omitempty"`
	Name      string        `json:"name,omitempty"`
	RV        string        `json:"rv,omitempty"`
	Initial   bool          `json:"initial,omitempty"`
	Page      bool          `json:"page,omitempty"`
	I         string        `json:"i,omitempty"`
	Error     string        `json:"error,omitempty"`
	Items     []informerObj `json:"items,omitempty"`
}

type informerObj struct {
	Namespace string            `json:"namespace"`
	Name      string            `json:"name"`
	RV        string            `json:"rv"`
	Data      map[string]string `json:"data"`
}

// runInformer runs a SharedIndexInformer on the ConfigMaps of all namespaces matching selector, as a
// cluster-wide Go controller does, until stdin closes, then prints its cache. Every list, every watch
// (with the RV it resumes from, and whether it asks for initial events: client-go's WatchList) and
// every event of every watch stream is printed, so the caller counts relists and checks each stream's
// resourceVersions.
func runInformer(c *clients, selector string) {
	var mu sync.Mutex
	out := json.NewEncoder(os.Stdout)
	emit := func(line informerLine) {
		mu.Lock()
		defer mu.Unlock()
		_ = out.Encode(line)
	}
	ctx := context.Background()
	cms := c.typed.CoreV1().ConfigMaps(metav1.NamespaceAll)
	streams := 0
	lw := &cache.ListWatch{
		ListFunc: func(options metav1.ListOptions) (runtime.Object, error) {
			options.LabelSelector = selector
			list, err := cms.List(ctx, options)
			if err != nil {
				emit(informerLine{Event: "list", Error: err.Error()})
				return nil, err
			}
			// A later page of a paginated list (client-go's pager) is part of the same list.
			emit(informerLine{Event: "list", RV: list.ResourceVersion, Page: options.Continue != ""})
			return list, nil
		},
		WatchFunc: func(options metav1.ListOptions) (watch.Interface, error) {
			options.LabelSelector = selector
			mu.Lock()
			streams++
			stream := streams
			mu.Unlock()
			initial := options.SendInitialEvents != nil && *options.SendInitialEvents
			emit(informerLine{Event: "watch", Stream: stream, RV: options.ResourceVersion, Initial: initial})
			w, err := cms.Watch(ctx, options)
			if err != nil {
				emit(informerLine{Event: "watch", Stream: stream, Error: err.Error()})
				return nil, err
			}
			return watch.Filter(w, func(e watch.Event) (watch.Event, bool) {
				line := informerLine{Event: "stream", Stream: stream, Type: string(e.Type)}
				if object, err := meta.Accessor(e.Object); err == nil {
					line.Namespace, line.Name, line.RV = object.GetNamespace(), object.GetName(), object.GetResourceVersion()
				}
				emit(line)
				return e, true
			}), nil
		},
	}
	informer := cache.NewSharedIndexInformer(lw, &corev1.ConfigMap{}, 0, cache.Indexers{})
	handler := func(kind string) func(obj interface{}) {
		return func(obj interface{}) {
			if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tombstone.Obj
			}
			if cm, ok := obj.(*corev1.ConfigMap); ok {
				emit(informerLine{Event: kind, Namespace: cm.Namespace, Name: cm.Name, RV: cm.ResourceVersion, I: cm.Data["i"]})
			}
		}
	}
	_, _ = informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    handler("add"),
		UpdateFunc: func(_, obj interface{}) { handler("update")(obj) },
		DeleteFunc: handler("delete"),
	})
	stop := make(chan struct{})
	go informer.Run(stop)
	if cache.WaitForCacheSync(stop, informer.HasSynced) {
		emit(informerLine{Event: "synced"})
	}
	// Until the caller closes stdin.
	_, _ = bufio.NewReader(os.Stdin).ReadString(0)
	close(stop)
	var items []informerObj
	for _, obj := range informer.GetStore().List() {
		cm := obj.(*corev1.ConfigMap)
		items = append(items, informerObj{Namespace: cm.Namespace, Name: cm.Name, RV: cm.ResourceVersion, Data: cm.Data})
	}
	emit(informerLine{Event: "cache", Items: items})
}
