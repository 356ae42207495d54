package api

import (
	"encoding/json"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// openapiMethods are the keys of an OpenAPI path item that are operations.
var openapiMethods = map[string]bool{
	"get": true, "put": true, "post": true, "delete": true,
	"options": true, "head": true, "patch": true, "trace": true,
}

const errorSchemaRef = "#/components/schemas/Error"

func loadOpenAPI(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(openapiDoc, &doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	return doc
}

// resolveRef follows local "$ref"s ("#/a/b") until it reaches an object
// without one.
func resolveRef(t *testing.T, doc map[string]any, v any) map[string]any {
	t.Helper()
	for range 10 {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("not an object: %v", v)
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		v = lookupRef(t, doc, ref)
	}
	t.Fatalf("$ref chain too long at %v", v)
	return nil
}

func lookupRef(t *testing.T, doc map[string]any, ref string) any {
	t.Helper()
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		t.Fatalf("$ref %q is not local", ref)
	}
	var cur any = doc
	for _, part := range strings.Split(rest, "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("$ref %q does not resolve", ref)
		}
		if cur, ok = m[part]; !ok {
			t.Fatalf("$ref %q does not resolve", ref)
		}
	}
	return cur
}

// openapiOperations returns "METHOD /path" → operation for every operation
// in the document.
func openapiOperations(t *testing.T, doc map[string]any) map[string]map[string]any {
	t.Helper()
	paths, ok := doc["paths"].(map[string]any)
	if !ok {
		t.Fatal("openapi.json has no paths object")
	}
	ops := map[string]map[string]any{}
	for path, item := range paths {
		im, ok := item.(map[string]any)
		if !ok {
			t.Fatalf("path %s is not an object", path)
		}
		for method, op := range im {
			if !openapiMethods[method] {
				continue
			}
			om, ok := op.(map[string]any)
			if !ok {
				t.Fatalf("%s %s is not an object", method, path)
			}
			ops[strings.ToUpper(method)+" "+path] = om
		}
	}
	return ops
}

func TestOpenAPIVersion(t *testing.T) {
	doc := loadOpenAPI(t)
	if doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi = %v, want 3.1.0", doc["openapi"])
	}
	info, _ := doc["info"].(map[string]any)
	if info["title"] == nil || info["version"] == nil {
		t.Fatalf("info needs title and version: %v", info)
	}
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	ops := openapiOperations(t, doc)

	routes := map[string]bool{}
	for _, rt := range (&API{}).routes() {
		method, path, ok := strings.Cut(rt.pattern, " ")
		if !ok || method == "" || !strings.HasPrefix(path, "/") {
			t.Fatalf("route pattern %q is not \"METHOD /path\"", rt.pattern)
		}
		routes[rt.pattern] = true
		if ops[rt.pattern] == nil {
			t.Errorf("route %s is not described in openapi.json", rt.pattern)
		}
	}
	var stale []string
	for key := range ops {
		if !routes[key] {
			stale = append(stale, key)
		}
	}
	sort.Strings(stale)
	for _, key := range stale {
		t.Errorf("openapi.json describes %s, which is not a route", key)
	}
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

func TestOpenAPIOperations(t *testing.T) {
	doc := loadOpenAPI(t)
	ids := map[string]string{}
	for key, op := range openapiOperations(t, doc) {
		if id, _ := op["operationId"].(string); id == "" {
			t.Errorf("%s: no operationId", key)
		} else if other, dup := ids[id]; dup {
			t.Errorf("%s: operationId %q also used by %s", key, id, other)
		} else {
			ids[id] = key
		}

		// Every {placeholder} of the path is a declared path parameter.
		declared := map[string]bool{}
		params, _ := op["parameters"].([]any)
		for _, p := range params {
			pm := resolveRef(t, doc, p)
			if pm["in"] == "path" {
				declared[pm["name"].(string)] = true
				if pm["required"] != true {
					t.Errorf("%s: path parameter %v must be required", key, pm["name"])
				}
			}
		}
		_, path, _ := strings.Cut(key, " ")
		want := map[string]bool{}
		for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
			want[m[1]] = true
			if !declared[m[1]] {
				t.Errorf("%s: path parameter %s is not declared", key, m[1])
			}
		}
		for name := range declared {
			if !want[name] {
				t.Errorf("%s: declares path parameter %s that is not in the path", key, name)
			}
		}

		responses, ok := op["responses"].(map[string]any)
		if !ok || len(responses) == 0 {
			t.Errorf("%s: no responses", key)
			continue
		}
		has2xxOr4xx := false
		for status, resp := range responses {
			code, err := strconv.Atoi(status)
			if err != nil {
				t.Errorf("%s: response %q is not a numeric status", key, status)
				continue
			}
			if (code >= 200 && code < 300) || (code >= 400 && code < 500) {
				has2xxOr4xx = true
			}
			r := resolveRef(t, doc, resp)
			if desc, _ := r["description"].(string); desc == "" {
				t.Errorf("%s %s: response has no description", key, status)
			}
			if code < 400 {
				continue
			}
			content, _ := r["content"].(map[string]any)
			media, _ := content["application/json"].(map[string]any)
			schema, _ := media["schema"].(map[string]any)
			if schema["$ref"] != errorSchemaRef {
				t.Errorf("%s %s: response does not use %s (schema %v)", key, status, errorSchemaRef, schema)
			}
		}
		if !has2xxOr4xx {
			t.Errorf("%s: no 2xx or 4xx response", key)
		}
	}
}

// TestOpenAPIRefs checks that every $ref in the document resolves.
func TestOpenAPIRefs(t *testing.T) {
	doc := loadOpenAPI(t)
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				lookupRef(t, doc, ref)
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(doc)
	for _, name := range []string{"Error", "Collection", "Field", "Rules", "Rule", "Record", "Page", "Token", "CollectionInput", "CollectionPatch"} {
		lookupRef(t, doc, "#/components/schemas/"+name)
	}
	lookupRef(t, doc, "#/components/securitySchemes/bearer")
}
