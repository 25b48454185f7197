// The daemon behind `kube-ipvs run`: see ProxyDaemon.
