/* The pod sandbox's process (what registry.k8s.io/pause runs): holds the pod's namespaces,
 * reaps orphans as PID 1, exits on SIGINT/SIGTERM. Built statically into the node tier's
 * pause image so that no registry is needed. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, NULL, WNOHANG) > 0) {} }

int main(void) {
    struct sigaction s = {0}, c = {0};
    s.sa_handler = stop;
    c.sa_handler = reap;
    c.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGINT, &s, NULL);
    sigaction(SIGTERM, &s, NULL);
    sigaction(SIGCHLD, &c, NULL);
    for (;;) pause();
}
