// go-clients: client-go v0.36 exercised as in-cluster Go controllers use it, with the clients' default
// content types (the generated clientset sends built-in types as protobuf; the dynamic client JSON).
// Run against the source API server directly and through the bridge's sidecar; each check prints one
// JSON line {"name", "ok", "detail"} on stdout, so the two runs can be compared check by check.
//
//	go-clients suite  --kubeconfig K --namespace NS --anchor-namespace A --identity-file F [--churn]
//	go-clients leader --kubeconfig K --namespace NS --lease NAME   (until stdin closes)
//	go-clients informer --kubeconfig K --selector SEL              (all namespaces, until stdin closes)
package main

import (
	"flag"
	"fmt"
	"os"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

type clients struct {
	typed   kubernetes.Interface
	dynamic dynamic.Interface
}

func newClients(kubeconfig string) (*clients, error) {
	var config *rest.Config
	var err error
	if kubeconfig == "in-cluster" {
		// In a pod, as controllers configure themselves: KUBERNETES_SERVICE_HOST/PORT, the token and ca.crt.
		config, err = rest.InClusterConfig()
	} else {
		config, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	if err != nil {
		return nil, err
	}
	// The field manager of creates and updates is derived from it: the same name on every path.
	config.UserAgent = "go-clients"
	// Shards moving every few seconds hold writes briefly (503 with Retry-After, which client-go retries);
	// the default rate limit (QPS 5) would make the suite's own pace the bottleneck.
	config.QPS, config.Burst = 100, 200
	typed, err := kubernetes.NewForConfig(config)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(rest.CopyConfig(config))
	if err != nil {
		return nil, err
	}
	return &clients{typed: typed, dynamic: dyn}, nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: go-clients suite|leader [flags]")
		os.Exit(2)
	}
	mode := os.Args[1]
	flags := flag.NewFlagSet(mode, flag.ExitOnError)
	kubeconfig := flags.String("kubeconfig", "", "kubeconfig of the API to test, or in-cluster (required)")
	namespace := flags.String("namespace", "", "namespace the checks write in (required)")
	anchorNamespace := flags.String("anchor-namespace", "", "suite: namespace of the object whose identity is followed across runs")
	identityFile := flags.String("identity-file", "", "suite: where the anchor's identity is recorded on the first run and compared on later runs")
	churn := flags.Bool("churn", false, "suite: shards change owner during the run; a write carrying an RV read before a hand-off may get 409, retried as controllers do")
	lease := flags.String("lease", "go-clients-leader", "leader: the Lease's name")
	selector := flags.String("selector", "", "informer: label selector of the ConfigMaps it follows in all namespaces")
	klogFlags := flag.NewFlagSet("klog", flag.ExitOnError)
	klog.InitFlags(klogFlags)
	_ = klogFlags.Set("v", "0")
	if err := flags.Parse(os.Args[2:]); err != nil || *kubeconfig == "" || (*namespace == "" && mode != "informer") {
		fmt.Fprintln(os.Stderr, "--kubeconfig and --namespace are required")
		os.Exit(2)
	}
	c, err := newClients(*kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot build clients:", err)
		os.Exit(1)
	}
	switch mode {
	case "suite":
		if *anchorNamespace == "" || *identityFile == "" {
			fmt.Fprintln(os.Stderr, "suite: --anchor-namespace and --identity-file are required")
			os.Exit(2)
		}
		runSuite(c, suiteOptions{namespace: *namespace, anchorNamespace: *anchorNamespace, identityFile: *identityFile, churn: *churn})
	case "leader":
		runLeader(c, *namespace, *lease)
	case "informer":
		runInformer(c, *selector)
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", mode)
		os.Exit(2)
	}
}
