// Parses every PEM certificate on stdin with Go's crypto/x509, as kube-apiserver does when it calls a
// webhook, and prints one line per certificate: "ok <serial hex>" or "error <message>".
package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
)

func main() {
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			fmt.Println("error", err)
			continue
		}
		fmt.Printf("ok %x\n", cert.SerialNumber)
	}
}
