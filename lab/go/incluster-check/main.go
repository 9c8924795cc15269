// Command incluster-check runs inside a lab pod on the real node: it reads its ServiceAccount token and
// CA as client-go's rest.InClusterConfig() does, resolves kubernetes.default.svc through the pod's DNS,
// and asks the API server, through the Service's ClusterIP, who it is (a SelfSubjectReview, which every
// authenticated user may create). It prints one line per step
// and exits non-zero on the first failure, so `kubectl logs` tells exactly which part of the path broke.
// Standard library only: it builds without module downloads.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

const saDir = "/var/run/secrets/kubernetes.io/serviceaccount"

func fail(step string, err error) {
	fmt.Printf("FAIL %s: %v\n", step, err)
	os.Exit(1)
}

func main() {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	fmt.Printf("env KUBERNETES_SERVICE_HOST=%s KUBERNETES_SERVICE_PORT=%s\n", host, port)
	token, err := os.ReadFile(saDir + "/token")
	if err != nil {
		fail("read token", err)
	}
	caPem, err := os.ReadFile(saDir + "/ca.crt")
	if err != nil {
		fail("read ca.crt", err)
	}
	namespace, err := os.ReadFile(saDir + "/namespace")
	if err != nil {
		fail("read namespace", err)
	}
	addrs, err := net.LookupHost("kubernetes.default.svc")
	if err != nil {
		fail("resolve kubernetes.default.svc", err)
	}
	fmt.Printf("dns kubernetes.default.svc=%v\n", addrs)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPem) {
		fail("parse ca.crt", fmt.Errorf("no certificate in it"))
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	url := fmt.Sprintf("https://kubernetes.default.svc:%s/apis/authentication.k8s.io/v1/selfsubjectreviews", port)
	review := `{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(review))
	req.Header.Set("Authorization", "Bearer "+string(token))
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		fail("create SelfSubjectReview", err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusCreated {
		fail("create SelfSubjectReview", fmt.Errorf("status %d: %s", res.StatusCode, body))
	}
	var answer struct {
		Status struct {
			UserInfo struct {
				Username string `json:"username"`
			} `json:"userInfo"`
		} `json:"status"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		fail("decode SelfSubjectReview", err)
	}
	fmt.Printf("api ok user=%s namespace=%s\n", answer.Status.UserInfo.Username, namespace)
}
