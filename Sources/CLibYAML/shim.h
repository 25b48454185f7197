// libyaml (Debian: libyaml-dev; at run time libyaml-0-2), the YAML 1.1 parser the manifest,
// configuration and kubeconfig readers compose their node trees from (KubeModel/YAMLComposer).
#include <yaml.h>
