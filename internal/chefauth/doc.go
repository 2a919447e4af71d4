// Package chefauth signs and verifies Chef Server API requests (X-Ops-* headers, protocol versions 1.0, 1.1, 1.2 and 1.3) as chef_authn and mixlib-authentication do.
package chefauth
