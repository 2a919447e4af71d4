// Package identity is the reference server's embedded Chef Server: orgs, users, clients, keys, groups and principals, with the Chef Server API subset that manages them.
package identity
