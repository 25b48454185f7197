print("kube-ipvs")
