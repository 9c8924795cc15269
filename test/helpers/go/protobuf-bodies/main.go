// Protobuf request bodies exactly as client-go v0.36 writes them by default, for the bridge's protobuf rewriter
// (lib/routing/protobuf-rv.ts) to be tested on real bytes:
//
//	fixtures  prints {name: base64} of bodies captured from a generated clientset (ContentType
//	          protobuf) calling a local test server: a ConfigMap update (and one setting a bridge annotation), a Lease update, a delete with
//	          preconditions, an object with ownerReferences; and a ConfigMapList encoded by the same codec.
//	decode    reads {name: base64} on stdin and prints {name: {object, reencoded}}: each body decoded by
//	          the API server's protobuf serializer into its typed object (as JSON), and that object
//	          encoded again (base64), so a test can compare rewritten bodies field by field and byte by byte.
//	steps     runs the JSON steps on stdin (create, get, update, delete of ConfigMaps and Leases) with a
//	          generated clientset with its default content types (protobuf), against the kubeconfig named by its argument, and
//	          prints one result per step: the RV it saw, or the API error's code and reason.
//	scheme    prints every registered kind of client-go's scheme whose layout breaks what the rewriter
//	          assumes (metadata is field 1; a list's items are field 2; DeleteOptions sits at field 2).
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

func main() {
	if len(os.Args) < 2 {
		fail(fmt.Errorf("usage: protobuf-bodies fixtures|decode|scheme|steps KUBECONFIG"))
	}
	var out any
	var err error
	switch os.Args[1] {
	case "fixtures":
		out, err = fixtures()
	case "decode":
		out, err = decode(os.Stdin)
	case "scheme":
		out = schemeLayout()
	case "steps":
		if len(os.Args) != 3 {
			fail(fmt.Errorf("usage: protobuf-bodies steps KUBECONFIG < steps.json"))
		}
		out, err = runSteps(os.Args[2], os.Stdin)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

// recorder answers every request with a Success Status and keeps each request body by method.
type recorder struct {
	mu     sync.Mutex
	bodies []captured
}

type captured struct {
	method, contentType string
	body                []byte
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.bodies = append(r.bodies, captured{req.Method, req.Header.Get("Content-Type"), body})
	r.mu.Unlock()
	// The clientset decodes the answer; echoing the protobuf request body back is a valid answer to a write.
	if req.Method == http.MethodPut || req.Method == http.MethodPost {
		w.Header().Set("Content-Type", "application/vnd.kubernetes.protobuf")
		_, _ = w.Write(body)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success"}`))
}

func (r *recorder) last() captured {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bodies[len(r.bodies)-1]
}

func ptr[T any](v T) *T { return &v }

func fixtures() (map[string]string, error) {
	rec := &recorder{}
	server := httptest.NewServer(rec)
	defer server.Close()
	// client-go's defaults: the generated clients of built-in types send protobuf when no ContentType is
	// set (gentype.PrefersProtobuf -> rest.Request.UseProtobufAsDefault); keep() checks they did.
	config := &rest.Config{Host: server.URL}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	out := map[string]string{}
	keep := func(name, wantMethod string) error {
		c := rec.last()
		if c.method != wantMethod || c.contentType != "application/vnd.kubernetes.protobuf" {
			return fmt.Errorf("%s: the clientset sent %s %s", name, c.method, c.contentType)
		}
		out[name] = base64.StdEncoding.EncodeToString(c.body)
		return nil
	}

	configMap := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name: "settings", Namespace: "apps", UID: "5d8f1f8e-3c55-4d0e-9a43-4e1f3a6f0b21", ResourceVersion: "1000000123",
			Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"note": "resourceVersion 1000000123 in an annotation stays"},
			Finalizers: []string{"example.com/keep"},
		},
		Data:       map[string]string{"resourceVersion": "1000000123", "mode": "fast"},
		BinaryData: map[string][]byte{"blob": {0, 1, 2, 0x6b, 0x38, 0x73, 0}},
	}
	if _, err := client.CoreV1().ConfigMaps("apps").Update(ctx, configMap, metav1.UpdateOptions{}); err != nil {
		return nil, err
	}
	if err := keep("configmap-update", http.MethodPut); err != nil {
		return nil, err
	}

	// A client's own value of a bridge annotation (refused), on an update with neither resourceVersion nor UID.
	marked := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name: "settings", Namespace: "apps",
			Annotations: map[string]string{"cluster-bridge.io/original-uid": "a-client-value", "note": "kept"},
		},
		Data: map[string]string{"mode": "slow"},
	}
	if _, err := client.CoreV1().ConfigMaps("apps").Update(ctx, marked, metav1.UpdateOptions{}); err != nil {
		return nil, err
	}
	if err := keep("configmap-update-marked", http.MethodPut); err != nil {
		return nil, err
	}

	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "leader", Namespace: "apps", ResourceVersion: "1000000456"},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity: ptr("pod-a"), LeaseDurationSeconds: ptr(int32(15)), LeaseTransitions: ptr(int32(3)),
			AcquireTime: &metav1.MicroTime{Time: metav1.Now().Rfc3339Copy().Time}, RenewTime: &metav1.MicroTime{Time: metav1.Now().Rfc3339Copy().Time},
		},
	}
	if _, err := client.CoordinationV1().Leases("apps").Update(ctx, lease, metav1.UpdateOptions{}); err != nil {
		return nil, err
	}
	if err := keep("lease-update", http.MethodPut); err != nil {
		return nil, err
	}

	deleteOptions := metav1.DeleteOptions{
		GracePeriodSeconds: ptr(int64(0)), PropagationPolicy: ptr(metav1.DeletePropagationForeground),
		Preconditions: &metav1.Preconditions{UID: ptr(types.UID("5d8f1f8e-3c55-4d0e-9a43-4e1f3a6f0b21")), ResourceVersion: ptr("1000000789")},
	}
	if err := client.CoreV1().ConfigMaps("apps").Delete(ctx, "settings", deleteOptions); err != nil {
		return nil, err
	}
	if err := keep("configmap-delete", http.MethodDelete); err != nil {
		return nil, err
	}
	// A delete without options still sends a DeleteOptions body (with nothing to rewrite).
	if err := client.CoreV1().ConfigMaps("apps").Delete(ctx, "settings", metav1.DeleteOptions{}); err != nil {
		return nil, err
	}
	if err := keep("configmap-delete-plain", http.MethodDelete); err != nil {
		return nil, err
	}

	owned := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: "owned", Namespace: "apps", ResourceVersion: "1000000999",
			OwnerReferences: []metav1.OwnerReference{
				{APIVersion: "v1", Kind: "ConfigMap", Name: "settings", UID: "5d8f1f8e-3c55-4d0e-9a43-4e1f3a6f0b21", Controller: ptr(true)},
				{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "0b7c2e3a-1111-4a2b-8c3d-9e8f7a6b5c4d", BlockOwnerDeletion: ptr(true)},
			},
		},
		StringData: map[string]string{"k": "v"},
	}
	if _, err := client.CoreV1().Secrets("apps").Create(ctx, owned, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	if err := keep("secret-create-owned", http.MethodPost); err != nil {
		return nil, err
	}

	// No clientset call sends a list; it is encoded by the codec the clientset uses for its bodies.
	list := &corev1.ConfigMapList{
		ListMeta: metav1.ListMeta{ResourceVersion: "1000001000", Continue: continueToken("1000001000")},
		Items:    []corev1.ConfigMap{*configMap, {ObjectMeta: metav1.ObjectMeta{Name: "second", Namespace: "apps", ResourceVersion: "1000000124"}}},
	}
	encoded, err := runtime.Encode(scheme.Codecs.EncoderForVersion(protobufSerializer(), corev1.SchemeGroupVersion), list)
	if err != nil {
		return nil, err
	}
	out["configmap-list"] = base64.StdEncoding.EncodeToString(encoded)
	return out, nil
}

// continueToken is the API server's encoding: base64 (no padding) of {"v":"meta.k8s.io/v1","rv":N,"start":"key"}.
func continueToken(rv string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(`{"v":"meta.k8s.io/v1","rv":` + rv + `,"start":"settings\u0000"}`))
}

func protobufSerializer() *protobuf.Serializer {
	return protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)
}

type decoded struct {
	Object    json.RawMessage `json:"object"`
	Reencoded string          `json:"reencoded"`
}

func decode(in io.Reader) (map[string]decoded, error) {
	var bodies map[string]string
	if err := json.NewDecoder(in).Decode(&bodies); err != nil {
		return nil, err
	}
	serializer := protobufSerializer()
	out := map[string]decoded{}
	for name, text := range bodies {
		data, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		obj, gvk, err := serializer.Decode(data, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		asJSON, err := json.Marshal(obj)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		again, err := runtime.Encode(scheme.Codecs.EncoderForVersion(serializer, gvk.GroupVersion()), obj)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = decoded{Object: asJSON, Reencoded: base64.StdEncoding.EncodeToString(again)}
	}
	return out, nil
}

// protobufField is the field number in a struct field's protobuf tag ("bytes,1,opt,name=metadata"), or "".
func protobufField(field reflect.StructField) string {
	parts := strings.Split(field.Tag.Get("protobuf"), ",")
	if len(parts) < 2 {
		return ""
	}
	return parts[1]
}

func schemeLayout() map[string]any {
	objectMeta := reflect.TypeOf(metav1.ObjectMeta{})
	listMeta := reflect.TypeOf(metav1.ListMeta{})
	deleteOptions := reflect.TypeOf(metav1.DeleteOptions{})
	problems, checked := []string{}, []string{}
	lists, withDeleteOptions := map[string]bool{}, map[string]bool{}
	seen := map[string]bool{}
	for gvk, typ := range scheme.Scheme.AllKnownTypes() {
		if gvk.Version == runtime.APIVersionInternal || typ.Kind() != reflect.Struct || seen[typ.String()] {
			continue
		}
		seen[typ.String()] = true
		name := gvk.GroupKind().String()
		checked = append(checked, name)
		var metadataField, itemsField string
		var metadataType, itemType reflect.Type
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			switch strings.Split(f.Tag.Get("json"), ",")[0] {
			case "metadata":
				metadataField, metadataType = protobufField(f), f.Type
			case "items":
				itemsField = protobufField(f)
				if f.Type.Kind() == reflect.Slice {
					itemType = f.Type.Elem()
				}
			}
			if f.Type == deleteOptions || f.Type == reflect.PointerTo(deleteOptions) {
				withDeleteOptions[gvk.Kind] = true
				if protobufField(f) != "2" {
					problems = append(problems, name+": DeleteOptions field "+protobufField(f))
				}
			}
		}
		isList := strings.HasSuffix(gvk.Kind, "List")
		switch {
		case typ == deleteOptions:
		case metadataType == nil:
			if !ignoredWithoutMetadata(gvk) {
				problems = append(problems, name+": no metadata field")
			}
		case metadataField != "1":
			problems = append(problems, name+": metadata is field "+metadataField)
		case metadataType == listMeta:
			lists[gvk.Kind] = true
			if !isList && gvk.Kind != "Status" {
				problems = append(problems, name+": ListMeta on a kind not named *List")
			}
		case metadataType == objectMeta:
			if isList {
				problems = append(problems, name+": a *List kind with ObjectMeta")
			}
		default:
			problems = append(problems, name+": metadata of type "+metadataType.String())
		}
		if isList && gvk.Kind != "List" && !ignoredWithoutMetadata(gvk) {
			if itemsField != "2" || itemType == nil {
				problems = append(problems, name+": items is field "+itemsField)
			} else if f, ok := itemType.FieldByName("ObjectMeta"); !ok || protobufField(f) != "1" {
				problems = append(problems, name+": items without ObjectMeta at field 1")
			}
		}
	}
	sort.Strings(problems)
	return map[string]any{"kindsChecked": len(checked), "problems": problems, "withDeleteOptions": keys(withDeleteOptions), "listMetaKinds": len(lists)}
}

// ignoredWithoutMetadata: the option, event and discovery kinds every group version registers carry no
// object metadata and are never a request body with an object's resourceVersion (DeleteOptions is handled
// by itself); extensions/v1beta1 DeploymentRollback is no longer served.
func ignoredWithoutMetadata(gvk schema.GroupVersionKind) bool {
	switch gvk.Kind {
	case "DeploymentRollback", "SerializedReference":
		return true
	case "ListOptions", "GetOptions", "CreateOptions", "UpdateOptions", "PatchOptions", "WatchEvent", "APIVersions", "APIGroup", "APIGroupList",
		"APIResourceList", "PodLogOptions", "PodExecOptions", "PodAttachOptions", "PodPortForwardOptions", "PodProxyOptions", "NodeProxyOptions",
		"ServiceProxyOptions", "InternalEvent":
		return true
	}
	return false
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
