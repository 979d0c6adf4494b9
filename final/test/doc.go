// Package test holds skiff's tests that run for real as root, in the
// lesson VM (`make test`); they are built with the vmtest tag.
package test
