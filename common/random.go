package common

import (
	"crypto/rand"
)

const keyAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// RandomString returns n characters from [a-zA-Z0-9] drawn from crypto/rand,
// used for token keys, access tokens and generated passwords.
func RandomString(n int) string {
	out := make([]byte, n)
	buf := make([]byte, n+n/2+8)
	i := 0
	for i < n {
		if _, err := rand.Read(buf); err != nil {
			panic("crypto/rand: " + err.Error())
		}
		for _, b := range buf {
			// 62*4 = 248: reject the top 8 values so every character is equally likely.
			if b >= 248 {
				continue
			}
			out[i] = keyAlphabet[b%62]
			i++
			if i == n {
				break
			}
		}
	}
	return string(out)
}
