//go:build !linux

package main

func releaseStartupPages() {}
