package server

import "strconv"

// Plural returns n with the singular or plural noun: "1 host", "2 hosts", "0 hosts".
func Plural(n int, singular, plural string) string {
	if n == 1 {
		return "1 " + singular
	}
	return strconv.Itoa(n) + " " + plural
}
