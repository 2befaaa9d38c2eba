// kube-apiserver, exactly as Kubernetes builds it (cmd/kube-apiserver/apiserver.go upstream):
// the command from k8s.io/kubernetes/cmd/kube-apiserver/app run by component-base's runner.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
