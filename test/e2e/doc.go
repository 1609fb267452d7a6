// Package e2e holds normwatch's end-to-end tests of paging and dashboards:
// the monitor binary, a real Prometheus and a real Alertmanager (Debian's
// prometheus and prometheus-alertmanager packages) started on loopback with
// the configurations and rules shipped in deployments/, and checks of
// those files with promtool, amtool and docker-compose.
//
// The tests skip when the tools are not installed; .ci/run installs them.
package e2e
