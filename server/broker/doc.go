// Package broker is the reference server's ZeroMQ side: the PUB heartbeat socket, the CURVE ROUTER command socket and its ZAP policy.
package broker
