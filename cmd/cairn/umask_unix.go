//go:build unix

package main

import "syscall"

// privateUmask makes every file the server creates, its own and those of
// the libraries it embeds (Pebble, DuckDB), readable by its user only.
func privateUmask() { syscall.Umask(0o077) }
