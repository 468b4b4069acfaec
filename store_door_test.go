package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// storagePackages may speak gorm: the store and any package split out of it
// (issue 13: the store is the one door into the database; the quota
// ledgers are the store's, split out into package ledger; internal/testdb
// makes the tests' databases and counts their statements). bench/ measures
// the store directly and is exempt.
func storagePackage(path string) bool {
	for _, p := range []string{"one-api/model", "one-api/ledger", "one-api/internal/testdb", "one-api/bench"} {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// TestGormStaysInStorage keeps gorm an implementation detail of the storage
// packages: no other package's non-test code imports gorm.io/..., or reaches
// for the Store's raw handles (Gorm, LogGorm) to query around its methods.
func TestGormStaysInStorage(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{.Dir}}|{{join .GoFiles " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	fset := token.NewFileSet()
	checked := 0
	for line := range strings.Lines(strings.TrimSpace(string(out))) {
		parts := strings.SplitN(strings.TrimSpace(line), "|", 3)
		if len(parts) != 3 || storagePackage(parts[0]) {
			continue
		}
		pkg, dir := parts[0], parts[1]
		for name := range strings.FieldsSeq(parts[2]) {
			f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			checked++
			file := pkg + "/" + name
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if strings.HasPrefix(path, "gorm.io/") {
					t.Errorf("%s imports %s: only the storage packages may (add a Store method instead)", file, path)
				}
			}
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) != 0 {
					return true
				}
				if sel, ok := call.Fun.(*ast.SelectorExpr); ok && (sel.Sel.Name == "Gorm" || sel.Sel.Name == "LogGorm") {
					t.Errorf("%s: %s calls %s(): only the storage packages and tests use the raw handle", file, fset.Position(call.Pos()), sel.Sel.Name)
				}
				return true
			})
		}
	}
	if checked == 0 {
		t.Fatal("go list found no non-storage files to check")
	}
}
