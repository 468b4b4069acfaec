package common

import (
	"fmt"
	"io"
	"reflect"
	"strings"
)

// secretFields are masked by PrintConfig.
var secretFields = map[string]bool{
	"SessionSecret": true, "InitialRootPassword": true, "InitialRootAccessToken": true,
	"InitialRootToken": true, "SQLDSN": true, "LogSQLDSN": true, "RedisURL": true, "Proxy": true,
}

// PrintConfig writes the effective configuration, one "Field = value" line
// each, with secrets masked.
func PrintConfig(w io.Writer, c *Config) {
	printStruct(w, "", reflect.ValueOf(*c))
}

func printStruct(w io.Writer, prefix string, v reflect.Value) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f, fv := t.Field(i), v.Field(i)
		if fv.Kind() == reflect.Struct && f.Type.PkgPath() == t.PkgPath() {
			printStruct(w, prefix+f.Name+".", fv)
			continue
		}
		val := fmt.Sprint(fv.Interface())
		if secretFields[f.Name] && val != "" {
			val = mask(val)
		}
		fmt.Fprintf(w, "%s%s = %s\n", prefix, f.Name, val)
	}
}

func mask(s string) string {
	if len(s) <= 4 {
		return "****"
	}
	return s[:2] + strings.Repeat("*", 6) + s[len(s)-2:]
}
