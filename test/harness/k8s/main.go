// Command fledge-k8s is one binary holding the real Kubernetes control-plane components, etcd and kubectl,
// so they share a single (slow) compile. The component is the first argument, or the name the binary is
// invoked under (a symlink named kubectl works like kubectl).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	kubectl "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

var components = map[string]func(args []string){
	"etcd": func(args []string) { etcdmain.Main(append([]string{"etcd"}, args...)) },
	"kube-apiserver": func(args []string) {
		os.Args = append([]string{"kube-apiserver"}, args...)
		os.Exit(cli.Run(apiserver.NewAPIServerCommand()))
	},
	"kube-controller-manager": func(args []string) {
		os.Args = append([]string{"kube-controller-manager"}, args...)
		os.Exit(cli.Run(controllermanager.NewControllerManagerCommand()))
	},
	"kube-scheduler": func(args []string) {
		os.Args = append([]string{"kube-scheduler"}, args...)
		os.Exit(cli.Run(scheduler.NewSchedulerCommand()))
	},
	"kubectl": func(args []string) {
		os.Args = append([]string{"kubectl"}, args...)
		if err := cli.RunNoErrOutput(kubectl.NewDefaultKubectlCommand()); err != nil {
			kubectlutil.CheckErr(err)
		}
	},
}

func main() {
	if run, ok := components[filepath.Base(os.Args[0])]; ok {
		run(os.Args[1:])
		return
	}
	if len(os.Args) >= 2 {
		if run, ok := components[os.Args[1]]; ok {
			run(os.Args[2:])
			return
		}
	}
	fmt.Fprintln(os.Stderr, "usage: fledge-k8s etcd|kube-apiserver|kube-controller-manager|kube-scheduler|kubectl [flags]")
	os.Exit(2)
}
